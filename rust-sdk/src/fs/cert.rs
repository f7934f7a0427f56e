//! `FileHandle.verify_cert(root)` / `verify_cert_chain(root, intermediates)` (REX §2.2.2):
//! X.509 path validation with `rustls-webpki` (signatures through `ring`), at the current time.
//!
//! Unlike REX, **every** handle involved (certificate, root, intermediates) must pass `read`
//! File before its content is read. Files may be PEM (any number of `CERTIFICATE` blocks) or a
//! single DER certificate, and are at most [`MAX_CERT_FILE_BYTES`] long. The first certificate
//! of the certificate file is the one verified; further certificates in that file are used as
//! intermediates. Every certificate of the root file is a trust anchor. No extended key usage
//! is required (a present but malformed extension still fails).

use rex_auth::Action;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, UnixTime};
use webpki::{EndEntityCert, KeyPurposeIdIter};

use super::error::FsError;
use super::handle::FileHandle;
use crate::{Permit, SdkContext};

/// The largest certificate file read.
pub const MAX_CERT_FILE_BYTES: u64 = 1 << 20;

/// Accepts any (well-formed) extended key usage.
struct AnyUsage;

impl webpki::ExtendedKeyUsageValidator for AnyUsage {
    fn validate(&self, iter: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        for eku in iter {
            eku?;
        }
        Ok(())
    }
}

/// Reads and decodes the certificates of one file. `read` is the proof of the caller's `read`
/// File check on it (`verify_cert_chain` checks every handle before reading any).
fn load(
    ctx: &SdkContext,
    f: &FileHandle,
    read: &Permit,
) -> Result<Vec<CertificateDer<'static>>, FsError> {
    let p = f.path().as_str();
    let limited = ctx.clone().with_limits(crate::SdkLimits {
        max_read_bytes: ctx.limits().max_read_bytes.min(MAX_CERT_FILE_BYTES),
        ..*ctx.limits()
    });
    let bytes = f.read_bytes_with(&limited, read)?;
    let invalid = |reason: String| FsError::InvalidContent {
        path: p.to_string(),
        reason,
    };
    if bytes.windows(10).any(|w| w == b"-----BEGIN") {
        let certs = CertificateDer::pem_slice_iter(&bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(format!("bad PEM: {e}")))?;
        if certs.is_empty() {
            return Err(invalid("no CERTIFICATE block".into()));
        }
        Ok(certs)
    } else if bytes.first() == Some(&0x30) {
        Ok(vec![CertificateDer::from(bytes)])
    } else {
        Err(invalid("not a PEM or DER certificate".into()))
    }
}

/// Verifies `cert` against the trust anchors in `root` (`read` on both).
pub fn verify_cert(ctx: &SdkContext, cert: &FileHandle, root: &FileHandle) -> Result<(), FsError> {
    verify_cert_chain(ctx, cert, root, &[])
}

/// Verifies `cert` against `root`, building the path through `intermediates` (`read` on
/// every handle, all checked before any content is read).
pub fn verify_cert_chain(
    ctx: &SdkContext,
    cert: &FileHandle,
    root: &FileHandle,
    intermediates: &[&FileHandle],
) -> Result<(), FsError> {
    let read = |f: &FileHandle| f.permit(ctx, Action::FsRead);
    let cert_read = read(cert)?;
    let root_read = read(root)?;
    let inter_read = intermediates
        .iter()
        .map(|f| read(f))
        .collect::<Result<Vec<_>, _>>()?;
    let p = cert.path().as_str();
    let mut leaf = load(ctx, cert, &cert_read)?.into_iter();
    let ee_der = leaf.next().ok_or_else(|| FsError::InvalidContent {
        path: p.to_string(),
        reason: "no certificate".into(),
    })?;
    let mut inter: Vec<CertificateDer<'static>> = leaf.collect();
    for (f, permit) in intermediates.iter().zip(&inter_read) {
        inter.extend(load(ctx, f, permit)?);
    }
    let roots = load(ctx, root, &root_read)?;
    let anchors = roots
        .iter()
        .map(|c| {
            webpki::anchor_from_trusted_cert(c).map_err(|e| FsError::InvalidContent {
                path: root.path().as_str().to_string(),
                reason: format!("not a usable trust anchor: {e}"),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let ee = EndEntityCert::try_from(&ee_der).map_err(|e| FsError::InvalidContent {
        path: p.to_string(),
        reason: format!("not a valid certificate: {e}"),
    })?;
    ee.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &anchors,
        &inter,
        UnixTime::now(),
        AnyUsage,
        None,
        None,
    )
    .map(|_| ())
    .map_err(|e| FsError::CertificateInvalid {
        path: p.to_string(),
        reason: e.to_string(),
    })
}

impl FileHandle {
    /// Verifies this certificate against `root`; see [`verify_cert`].
    pub fn verify_cert(&self, ctx: &SdkContext, root: &FileHandle) -> Result<(), FsError> {
        verify_cert(ctx, self, root)
    }

    /// Verifies this certificate against `root` through `intermediates`; see
    /// [`verify_cert_chain`].
    pub fn verify_cert_chain(
        &self,
        ctx: &SdkContext,
        root: &FileHandle,
        intermediates: &[&FileHandle],
    ) -> Result<(), FsError> {
        verify_cert_chain(ctx, self, root, intermediates)
    }
}
