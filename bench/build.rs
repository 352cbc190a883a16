//! Generates the benchmark HERO's skeleton and stub from `proto/bench/v1/bench.proto`.

fn main() {
    heros_codegen::compile(&["proto/bench/v1/bench.proto"], &["proto"]).expect("bench.proto compiles");
}
