//! System information against this machine's /proc.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::{IpAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rex_auth::{Authorizer, MemoryAuditSink, Outcome, Policies};
use rust_sdk::SdkContext;
use rust_sdk::system::{self, DmesgOptions, ResolveOptions, SysinfoErrorKind};

fn ctx_with(policy: &str) -> (SdkContext, Arc<MemoryAuditSink>) {
    let sink = Arc::new(MemoryAuditSink::new());
    let auth = Authorizer::builder()
        .principal(rust_sdk::runtime::identity::effective_user_principal().unwrap())
        .policies(Policies::parse("test", policy).unwrap())
        .audit_sink(sink.clone())
        .build()
        .unwrap();
    (SdkContext::new(Arc::new(auth)), sink)
}

fn ctx(policy: &str) -> SdkContext {
    ctx_with(policy).0
}

const MEMINFO: &str = r#"permit(principal, action == file_system::Action::"read", resource == file_system::File::"/proc/meminfo");"#;
const SYSINFO: &str = r#"permit(principal, action == sysinfo::Action::"list", resource);"#;

#[test]
fn memory_and_swap_allowed() {
    let c = ctx(MEMINFO);
    let m = system::memory_info(&c).unwrap();
    assert!(m.total > 0);
    assert!(m.available <= m.total);
    assert_eq!(m.used, m.total - m.available);
    let s = system::swap_info(&c).unwrap();
    assert_eq!(s.used, s.total - s.free);
}

#[test]
fn memory_and_swap_denied() {
    let c = ctx(SYSINFO);
    assert_eq!(
        system::memory_info(&c).unwrap_err().kind(),
        SysinfoErrorKind::PermissionDenied
    );
    assert_eq!(
        system::swap_info(&c).unwrap_err().kind(),
        SysinfoErrorKind::PermissionDenied
    );
}

#[test]
fn sysinfo_list_allowed() {
    let c = ctx(SYSINFO);
    assert!(system::cpu_count(&c).unwrap() >= 1);
    let h = system::hostname(&c).unwrap();
    let u = system::uname_info(&c).unwrap();
    assert_eq!(u.nodename, h);
    assert_eq!(u.kernel_name, "Linux");
    assert!(!u.kernel_release.is_empty());
    let ifs = system::ip_addresses(&c).unwrap();
    let lo = ifs.iter().find(|n| n.interface_name == "lo").unwrap();
    assert!(lo.addresses.iter().any(|a| a == "127.0.0.1"));
}

#[test]
fn sysinfo_list_denied() {
    let c = ctx(MEMINFO);
    for r in [
        system::cpu_count(&c).map(|_| ()),
        system::hostname(&c).map(|_| ()),
        system::uname_info(&c).map(|_| ()),
        system::ip_addresses(&c).map(|_| ()),
    ] {
        assert_eq!(r.unwrap_err().kind(), SysinfoErrorKind::PermissionDenied);
    }
}

#[test]
fn kernel_stats_allowed_and_denied() {
    let c = ctx(
        r#"permit(principal, action == file_system::Action::"read", resource == file_system::File::"/proc/stat");"#,
    );
    let k = system::kernel_stats(&c).unwrap();
    assert!(!k.cpu_time.is_empty());
    assert!(k.boot_time > 0);
    assert!(k.context_switches > 0);
    assert!(k.total_cpu_time.user_ticks >= k.cpu_time[0].user_ticks);
    let c = ctx(MEMINFO);
    assert_eq!(
        system::kernel_stats(&c).unwrap_err().kind(),
        SysinfoErrorKind::PermissionDenied
    );
}

#[test]
fn resolve_allowed() {
    let c = ctx(
        r#"permit(principal, action == sysinfo::Action::"resolve_hostname", resource == sysinfo::Hostname::"localhost");"#,
    );
    let ips = system::resolve_hostname(&c, &ResolveOptions::new("localhost")).unwrap();
    assert!(
        ips.iter().any(|i| i == "127.0.0.1" || i == "::1"),
        "{ips:?}"
    );
}

#[test]
fn resolve_denied_for_other_name_and_for_unlisted_resolver() {
    let (c, sink) = ctx_with(
        r#"permit(principal, action == sysinfo::Action::"resolve_hostname", resource == sysinfo::Hostname::"localhost")
           unless { context has resolver };"#,
    );
    let err = system::resolve_hostname(&c, &ResolveOptions::new("example.invalid")).unwrap_err();
    assert_eq!(err.kind(), SysinfoErrorKind::PermissionDenied);
    // the resolver is part of the check: a custom resolver is denied by this policy
    let mut opts = ResolveOptions::new("localhost");
    opts.resolver = Some("127.0.0.1".parse::<IpAddr>().unwrap());
    let err = system::resolve_hostname(&c, &opts).unwrap_err();
    assert_eq!(err.kind(), SysinfoErrorKind::PermissionDenied);
    let recs = sink.take();
    assert!(recs.iter().all(|r| r.outcome != Outcome::Allow));
    assert!(
        recs.iter()
            .any(|r| r.context.contains("resolver=127.0.0.1"))
    );
}

/// A fake DNS server on `<some 127.x.y.z>:53` answering A queries with 10.9.8.7; counts queries.
fn fake_dns() -> Option<(IpAddr, Arc<AtomicUsize>)> {
    let base = (std::process::id() % 200) as u8 + 20;
    for third in 0..20u8 {
        let ip: IpAddr = format!("127.77.{third}.{base}").parse().unwrap();
        let Ok(sock) = UdpSocket::bind((ip, 53)) else {
            continue;
        };
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            loop {
                let Ok((n, peer)) = sock.recv_from(&mut buf) else {
                    return;
                };
                h.fetch_add(1, Ordering::SeqCst);
                let q = &buf[..n];
                let qtype = u16::from_be_bytes([q[n - 4], q[n - 3]]);
                let mut r = q.to_vec();
                r[2] = 0x81;
                r[3] = 0x80;
                if qtype == 1 {
                    r[7] = 1;
                    r.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 9, 8, 7]);
                }
                let _ = sock.send_to(&r, peer);
            }
        });
        return Some((ip, hits));
    }
    None
}

#[test]
fn resolve_with_custom_resolver_allowed() {
    let Some((ip, hits)) = fake_dns() else {
        panic!("cannot bind a loopback DNS port (tests run as root)");
    };
    let c = ctx(&format!(
        r#"permit(principal, action == sysinfo::Action::"resolve_hostname", resource == sysinfo::Hostname::"demo.test")
                   when {{ context has resolver && context.resolver == "{ip}" }};"#
    ));
    let mut opts = ResolveOptions::new("demo.test");
    opts.resolver = Some(ip);
    let ips = system::resolve_hostname(&c, &opts).unwrap();
    assert_eq!(ips, vec!["10.9.8.7".to_string()]);
    assert_eq!(hits.load(Ordering::SeqCst), 2, "A and AAAA queries");
    // invalid names are refused before any check
    let err = system::resolve_hostname(&c, &ResolveOptions::new("bad name")).unwrap_err();
    assert_eq!(err.kind(), SysinfoErrorKind::InvalidParameter);
}

#[test]
fn resolve_with_custom_resolver_denied_sends_nothing() {
    let Some((ip, hits)) = fake_dns() else {
        panic!("cannot bind a loopback DNS port (tests run as root)");
    };
    // the name is allowed, but only with the system resolver
    let c = ctx(
        r#"permit(principal, action == sysinfo::Action::"resolve_hostname", resource == sysinfo::Hostname::"demo.test")
           unless { context has resolver };"#,
    );
    let mut opts = ResolveOptions::new("demo.test");
    opts.resolver = Some(ip);
    let err = system::resolve_hostname(&c, &opts).unwrap_err();
    assert_eq!(err.kind(), SysinfoErrorKind::PermissionDenied);
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

#[test]
fn dmesg_allowed_reads_or_reports_os_error() {
    let c = ctx(
        r#"permit(principal, action == file_system::Action::"read", resource == file_system::File::"/dev/kmsg");"#,
    );
    match system::dmesg(
        &c,
        DmesgOptions {
            human_readable_time: true,
        },
    ) {
        Ok(entries) => {
            for e in entries.iter().take(5) {
                assert!(e.timestamp_from_system_start.starts_with('['));
            }
        }
        // containers may have no /dev/kmsg or deny it at the OS level: never a policy denial
        Err(e) => assert_eq!(e.kind(), SysinfoErrorKind::IoError, "{e}"),
    }
}

#[test]
fn dmesg_denied() {
    let c = ctx(MEMINFO);
    assert_eq!(
        system::dmesg(&c, DmesgOptions::default())
            .unwrap_err()
            .kind(),
        SysinfoErrorKind::PermissionDenied
    );
}

const SLABINFO: &str = r#"permit(principal, action == file_system::Action::"open", resource == file_system::Dir::"/proc");
    permit(principal, action in [file_system::Action::"open", file_system::Action::"read"], resource == file_system::File::"/proc/slabinfo");"#;

#[test]
fn slab_info_allowed_matches_proc() {
    let c = ctx(SLABINFO);
    let direct = match std::fs::read_to_string("/proc/slabinfo") {
        Ok(t) => t,
        Err(_) => {
            // not root: the checks pass and the kernel refuses the read
            assert_eq!(
                system::slab_info(&c).unwrap_err().kind(),
                SysinfoErrorKind::IoError
            );
            return;
        }
    };
    let s = system::slab_info(&c).unwrap();
    let names: Vec<&str> = direct
        .lines()
        .skip(2)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(!s.slabs.is_empty());
    // cache names and their order are stable between two reads
    for (entry, name) in s.slabs.iter().zip(&names).take(10) {
        assert_eq!(entry.name, *name);
    }
    assert!(s.slabs.iter().any(|e| e.name == "dentry"));
    assert_eq!(s.summary.total_caches, s.slabs.len() as u64);
    assert!(s.summary.active_objects <= s.summary.total_objects);
    assert!(s.summary.min_obj_size <= s.summary.max_obj_size);
    assert!(s.summary.total_size > 0);
}

#[test]
fn slab_info_denied_stops_at_the_first_check() {
    // `open` on Dir /proc allowed, but not the file itself
    let (c, sink) = ctx_with(
        r#"permit(principal, action == file_system::Action::"open", resource == file_system::Dir::"/proc");"#,
    );
    let e = system::slab_info(&c).unwrap_err();
    assert_eq!(e.kind(), SysinfoErrorKind::PermissionDenied);
    assert!(matches!(e, system::SysinfoError::Denied(_)));
    let records = sink.records();
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(records[1].outcome, Outcome::Deny);
    // nothing allowed at all
    let (c, sink) = ctx_with("");
    assert_eq!(
        system::slab_info(&c).unwrap_err().kind(),
        SysinfoErrorKind::PermissionDenied
    );
    assert_eq!(sink.records().len(), 1);
}
