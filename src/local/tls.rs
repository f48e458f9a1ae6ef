//! The twin's certificate authority: MSK's IAM listener is TLS (port 9098, SASL_SSL), so the
//! twin's broker serves a certificate signed by a CA the twin makes, and the workers it runs
//! trust that CA (`ssl.ca.location`, from [`CA_ENV`]) as clients on AWS trust Amazon's.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};

/// The environment variable naming the CA file Kafka clients trust.
pub use crate::clients::kafka_admin::CA_ENV;

/// The files of the twin's TLS: the CA's certificate, and the broker's private key followed by
/// its certificate chain (Kafka's PEM key store, KIP-651: `ssl.keystore.type=PEM`).
#[derive(Debug, Clone)]
pub struct Files {
    /// `ca.pem`: what clients trust.
    pub ca: PathBuf,
    /// `broker.pem`: the broker's key (PKCS#8, unencrypted) and its certificate, then the CA's.
    pub broker: PathBuf,
    /// `control.secret`: the password of the broker's control principal (SASL/PLAIN on its
    /// internal and controller listeners), which the broker and the emulator's topic API alone
    /// know; mode 0600 (see [`super::kafka::CONTROL_USER`]).
    pub control_secret: PathBuf,
}

/// The CA and broker certificate in `dir`, made when missing. The broker's certificate names
/// `127.0.0.1` and `localhost`, the addresses the twin's bootstrap strings use, so clients
/// verify the host as they do against MSK's `b-N...kafka.<region>.amazonaws.com`.
pub fn ensure(dir: &Path) -> Result<Files> {
    let files = Files {
        ca: dir.join("ca.pem"),
        broker: dir.join("broker.pem"),
        control_secret: dir.join("control.secret"),
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    if !files.control_secret.exists() {
        write_secret(&files.control_secret)?;
    }
    if files.ca.exists() && files.broker.exists() {
        return Ok(files);
    }
    let (ca_pem, broker_pem) = make().context("making the twin's TLS certificates")?;
    // The broker's file first: a CA file alone is never mistaken for a complete pair.
    crate::fsx::write_atomically(&files.broker, broker_pem.as_bytes())?;
    crate::fsx::write_atomically(&files.ca, ca_pem.as_bytes())?;
    Ok(files)
}

/// Writes 32 random bytes, hex-encoded, readable by the owner only.
fn write_secret(path: &Path) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let secret: String = (0..2)
        .map(|_| uuid::Uuid::new_v4().simple().to_string())
        .collect();
    let partial = path.with_extension("partial");
    let _ = std::fs::remove_file(&partial);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&partial)
        .with_context(|| format!("creating {}", partial.display()))?;
    f.write_all(secret.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&partial, path).with_context(|| format!("writing {}", path.display()))
}

/// The control principal's password, as [`ensure`] wrote it.
pub fn read_secret(path: &Path) -> Result<String> {
    let s = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let s = s.trim().to_string();
    anyhow::ensure!(!s.is_empty(), "{} is empty", path.display());
    Ok(s)
}

fn make() -> Result<(String, String), rcgen::Error> {
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "pinctl local twin CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca.self_signed(&ca_key)?;

    let mut leaf = CertificateParams::new(vec!["localhost".to_string()])?;
    leaf.subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    leaf.distinguished_name
        .push(DnType::CommonName, "pinctl local twin broker");
    leaf.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_key = KeyPair::generate()?;
    let leaf_cert = leaf.signed_by(&leaf_key, &ca_cert, &ca_key)?;
    let broker = format!(
        "{}{}{}",
        leaf_key.serialize_pem(),
        leaf_cert.pem(),
        ca_cert.pem()
    );
    Ok((ca_cert.pem(), broker))
}

#[cfg(test)]
mod tests {
    #[test]
    fn makes_a_ca_and_a_broker_pair_once() {
        let dir = tempfile::tempdir().unwrap();
        let files = super::ensure(dir.path()).unwrap();
        let ca = std::fs::read_to_string(&files.ca).unwrap();
        let broker = std::fs::read_to_string(&files.broker).unwrap();
        assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(broker.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert_eq!(broker.matches("BEGIN CERTIFICATE").count(), 2);
        assert!(broker.ends_with(&ca), "the chain ends with the CA");
        let secret = super::read_secret(&files.control_secret).unwrap();
        assert_eq!(secret.len(), 64);
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&files.control_secret)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "the control secret is the owner's alone"
        );
        let again = super::ensure(dir.path()).unwrap();
        assert_eq!(std::fs::read_to_string(again.ca).unwrap(), ca, "reused");
        assert_eq!(super::read_secret(&again.control_secret).unwrap(), secret);
    }
}
