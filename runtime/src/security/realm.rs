//! Making a realm's credentials: its CA (`heros realm init`) and a certificate per process or
//! person (`heros realm issue`), with rcgen (pure Rust; no openssl binary). Keys are ECDSA P-256.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    SanType, SerialNumber,
};

use super::credentials::{hex, CA_FILE, CA_KEY_FILE, CERT_FILE, KEY_FILE};
use super::roles::{Role, ROLE_URI_PREFIX};
use crate::error::{Error, Result};

/// The DNS name every certificate of a realm carries and every client checks: servers are
/// reached by whatever address discovery found, so the realm CA's signature, not a host name,
/// says that a server belongs to the realm. gRPC clients in other languages set it as the
/// target name override (`grpc.ssl_target_name_override`).
pub const SERVER_NAME: &str = "heros";

/// A certificate just issued.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The credentials folder written (`ca.pem`, `cert.pem`, `key.pem`).
    pub dir: PathBuf,
    /// The certificate's serial, hex: the line to add to a `denylist` to revoke it.
    pub serial: String,
}

fn failed(what: &str) -> impl Fn(rcgen::Error) -> Error + '_ {
    move |e| Error::config(format!("{what}: {e}"))
}

fn write(path: &Path, contents: &str, secret: bool) -> Result<()> {
    let io = |e: std::io::Error| Error::config(format!("cannot write {}: {e}", path.display()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let _ = secret;
    use std::io::Write;
    options.open(path).map_err(io)?.write_all(contents.as_bytes()).map_err(io)
}

/// 16 random bytes, the top bit clear (a positive DER integer) and the first byte non-zero.
fn random_serial() -> Result<Vec<u8>> {
    let mut serial = [0u8; 16];
    getrandom::fill(&mut serial).map_err(|e| Error::config(format!("no randomness for a serial: {e}")))?;
    serial[0] = (serial[0] & 0x7f) | 0x01;
    Ok(serial.to_vec())
}

/// Makes a realm CA in `dir` (created if needed): `ca.pem` (give it to everyone) and `ca.key`
/// (keep it here, offline if you can). Refuses to overwrite an existing CA.
pub fn init(dir: &Path) -> Result<PathBuf> {
    if dir.join(CA_KEY_FILE).exists() {
        return Err(Error::config(format!(
            "{} exists: this folder already holds a realm CA (remove it first to start a new realm)",
            dir.join(CA_KEY_FILE).display()
        )));
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::config(format!("cannot create {}: {e}", dir.display())))?;
    let key = KeyPair::generate().map_err(failed("generating the CA key"))?;
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(failed("CA parameters"))?;
    params.distinguished_name.push(DnType::CommonName, "HEROS realm CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    params.serial_number = Some(SerialNumber::from(random_serial()?));
    let certificate = params.self_signed(&key).map_err(failed("signing the CA certificate"))?;
    write(&dir.join(CA_FILE), &certificate.pem(), false)?;
    write(&dir.join(CA_KEY_FILE), &key.serialize_pem(), true)?;
    Ok(dir.join(CA_FILE))
}

/// Issues a certificate for `name` with `role`, signed by the CA in `realm_dir`, and writes a
/// credentials folder for it (`out`, default `<realm_dir>/<name>`): `ca.pem`, `cert.pem`,
/// `key.pem`. Point `HEROS_CREDENTIALS` at that folder.
pub fn issue(realm_dir: &Path, name: &str, role: Role, out: Option<&Path>) -> Result<Issued> {
    if name.is_empty()
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        || name.starts_with('.')
    {
        return Err(Error::config(format!("'{name}' is not a certificate name: letters, digits, '_', '-', '.'")));
    }
    let read = |file: &str| {
        std::fs::read_to_string(realm_dir.join(file)).map_err(|e| {
            Error::config(format!(
                "{}: {e} (is {} a realm folder made by `heros realm init`?)",
                realm_dir.join(file).display(),
                realm_dir.display()
            ))
        })
    };
    let ca_pem = read(CA_FILE)?;
    let ca_key = KeyPair::from_pem(&read(CA_KEY_FILE)?).map_err(failed("reading ca.key"))?;
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, ca_key).map_err(failed("reading ca.pem"))?;
    let mut params = CertificateParams::new(vec![SERVER_NAME.to_owned()]).map_err(failed("certificate parameters"))?;
    let role_uri = format!("{ROLE_URI_PREFIX}{role}");
    params.subject_alt_names.push(SanType::URI(role_uri.try_into().map_err(failed("role URI"))?));
    params.distinguished_name.push(DnType::CommonName, name);
    // Every process both serves and calls.
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let serial = random_serial()?;
    params.serial_number = Some(SerialNumber::from(serial.clone()));
    let key = KeyPair::generate().map_err(failed("generating the key"))?;
    let certificate = params.signed_by(&key, &issuer).map_err(failed("signing the certificate"))?;
    let dir = out.map(Path::to_owned).unwrap_or_else(|| realm_dir.join(name));
    std::fs::create_dir_all(&dir).map_err(|e| Error::config(format!("cannot create {}: {e}", dir.display())))?;
    write(&dir.join(CA_FILE), &ca_pem, false)?;
    write(&dir.join(CERT_FILE), &certificate.pem(), false)?;
    write(&dir.join(KEY_FILE), &key.serialize_pem(), true)?;
    Ok(Issued { dir, serial: hex(&serial) })
}
