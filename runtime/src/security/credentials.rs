//! The credentials folder of a process in a secured realm, and the denylist in it.
//!
//! ```text
//! <dir>/ca.pem     the realm CA's certificate: peers must present a certificate it signed
//! <dir>/cert.pem   this process's certificate (CN: its name; SAN URI heros:role:<role>; SAN DNS heros)
//! <dir>/key.pem    its private key
//! <dir>/denylist   optional: revoked certificate serials, hex, one per line ('#' comments);
//!                  read again whenever its modification time changes
//! ```
//!
//! `heros realm issue` writes such a folder. The CA's key (`ca.key`) lives only in the folder
//! `heros realm init` made and is never needed by a running process.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::{Error, Result};

pub(crate) const CA_FILE: &str = "ca.pem";
pub(crate) const CA_KEY_FILE: &str = "ca.key";
pub(crate) const CERT_FILE: &str = "cert.pem";
pub(crate) const KEY_FILE: &str = "key.pem";
pub(crate) const DENYLIST_FILE: &str = "denylist";

/// The files of one credentials folder, parsed.
pub(crate) struct Credentials {
    pub(crate) dir: PathBuf,
    pub(crate) ca: Vec<CertificateDer<'static>>,
    pub(crate) chain: Vec<CertificateDer<'static>>,
    pub(crate) key: PrivateKeyDer<'static>,
}

impl Credentials {
    /// Reads `dir`; errors name the file and say how to make it.
    pub(crate) fn load(dir: &Path) -> Result<Credentials> {
        let file = |name: &str| dir.join(name);
        let bad = |name: &str, why: &dyn std::fmt::Display| {
            Error::config(format!(
                "HEROS_CREDENTIALS: {}: {why} (make the folder with `heros realm issue <realm dir> <name>`)",
                file(name).display()
            ))
        };
        let certificates = |name: &str| -> Result<Vec<CertificateDer<'static>>> {
            let certificates = CertificateDer::pem_file_iter(file(name))
                .map_err(|e| bad(name, &e))?
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| bad(name, &e))?;
            if certificates.is_empty() {
                return Err(bad(name, &"no certificate in it"));
            }
            Ok(certificates)
        };
        let ca = certificates(CA_FILE)?;
        let chain = certificates(CERT_FILE)?;
        let key = PrivateKeyDer::from_pem_file(file(KEY_FILE)).map_err(|e| bad(KEY_FILE, &e))?;
        Ok(Credentials { dir: dir.to_owned(), ca, chain, key })
    }
}

/// Revoked serials (`<dir>/denylist`), read again when the file changes: a revoked peer is
/// refused from its next connection on, without restarting anything.
pub(crate) struct Denylist {
    path: PathBuf,
    /// The modification time the set was read at (`None`: no file), and the set.
    state: Mutex<(Option<SystemTime>, HashSet<String>)>,
}

impl Denylist {
    pub(crate) fn new(dir: &Path) -> Denylist {
        let denylist = Denylist { path: dir.join(DENYLIST_FILE), state: Mutex::new((None, HashSet::new())) };
        denylist.refresh();
        denylist
    }

    /// Whether the certificate with `serial` (hex) is revoked. One `stat` per connection.
    pub(crate) fn revoked(&self, serial: &str) -> bool {
        self.refresh();
        self.state.lock().unwrap_or_else(|e| e.into_inner()).1.contains(&normalize(serial))
    }

    fn refresh(&self) {
        let modified = std::fs::metadata(&self.path).and_then(|m| m.modified()).ok();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.0 == modified && modified.is_some() {
            return;
        }
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        let serials: HashSet<String> = text
            .lines()
            .map(|line| line.split('#').next().unwrap_or("").trim())
            .filter(|line| !line.is_empty())
            .map(normalize)
            .collect();
        if modified.is_some() {
            tracing::info!(path = %self.path.display(), revoked = serials.len(), "denylist read");
        }
        *state = (modified, serials);
    }
}

/// A serial as the denylist compares it: lowercase hex, no separators, no leading zeros.
pub(crate) fn normalize(serial: &str) -> String {
    let hex: String = serial.chars().filter(|c| c.is_ascii_hexdigit()).map(|c| c.to_ascii_lowercase()).collect();
    let trimmed = hex.trim_start_matches('0');
    if trimmed.is_empty() {
        "0".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// Bytes as lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_compare_however_written() {
        assert_eq!(normalize("00:AB:cd"), "abcd");
        assert_eq!(normalize("abcd"), "abcd");
        assert_eq!(hex(&[0, 0xab]), "00ab");
    }

    #[test]
    fn the_denylist_is_read_again_when_it_changes() {
        let dir = std::env::temp_dir().join(format!("heros-denylist-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let denylist = Denylist::new(&dir);
        assert!(!denylist.revoked("ab"));
        std::fs::write(dir.join(DENYLIST_FILE), "# revoked\nAB  # alice's laptop\n").unwrap();
        assert!(denylist.revoked("00ab"));
        // A second write within the file system's time resolution: set a later time explicitly.
        std::fs::write(dir.join(DENYLIST_FILE), "cd\n").unwrap();
        let later = SystemTime::now() + std::time::Duration::from_secs(5);
        std::fs::File::options().write(true).open(dir.join(DENYLIST_FILE)).unwrap().set_modified(later).unwrap();
        assert!(!denylist.revoked("ab"));
        assert!(denylist.revoked("cd"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
