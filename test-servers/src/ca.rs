//! A certificate authority made for one test run, so that tests exercise
//! real certificate verification (a client that does not trust it must
//! fail) without touching the system's trust store.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// A test CA: its certificate in PEM, and the key that issues server and
/// client certificates.
pub struct TestCa {
    /// The CA certificate, PEM: what a client is given to trust.
    pub cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Default for TestCa {
    fn default() -> TestCa {
        TestCa::new()
    }
}

impl TestCa {
    /// A new CA with a fresh key.
    pub fn new() -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("no names to parse");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name = name("Galette test CA");
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate().expect("generating the test CA key");
        let cert = params.self_signed(&key).expect("self-signing the test CA");
        TestCa { cert_pem: cert.pem(), issuer: Issuer::new(params, key) }
    }

    /// A server certificate for `names` (DNS names or IP addresses such as
    /// "127.0.0.1" and "localhost"), signed by this CA: (cert PEM, key PEM).
    pub fn server_cert(&self, names: &[&str]) -> (String, String) {
        let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
        let mut params = CertificateParams::new(names.clone()).expect("server names are DNS names or IP addresses");
        params.distinguished_name = name(names.first().map_or("galette test server", String::as_str));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue(params)
    }

    /// A client certificate (for mutual TLS) whose subject's common name is
    /// `common_name`: (cert PEM, key PEM).
    pub fn client_cert(&self, common_name: &str) -> (String, String) {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("no names to parse");
        params.distinguished_name = name(common_name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(params)
    }

    fn issue(&self, mut params: CertificateParams) -> (String, String) {
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        let key = KeyPair::generate().expect("generating a certificate key");
        let cert = params.signed_by(&key, &self.issuer).expect("signing a certificate with the test CA");
        (cert.pem(), key.serialize_pem())
    }
}

fn name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name
}
