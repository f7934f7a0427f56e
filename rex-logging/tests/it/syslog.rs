#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

//! The syslog layer against a real datagram socket standing in for `/dev/log`.

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use proptest::prelude::*;
use rex_logging::{
    LogLevel, SYSLOG_MAX_DATAGRAM_BYTES, SyslogConfig, SyslogLayer, TRUNCATION_MARKER,
};
use tracing_subscriber::layer::SubscriberExt;

struct FakeDevLog {
    _dir: tempfile::TempDir,
    path: PathBuf,
    socket: UnixDatagram,
}

impl FakeDevLog {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let socket = UnixDatagram::bind(&path).unwrap();
        socket.set_nonblocking(true).unwrap();
        FakeDevLog {
            _dir: dir,
            path,
            socket,
        }
    }

    fn layer(&self, level: LogLevel) -> SyslogLayer {
        SyslogLayer::new(SyslogConfig {
            socket: self.path.clone(),
            level,
            ..SyslogConfig::default()
        })
    }

    /// Every datagram queued so far.
    fn drain(&self) -> Vec<String> {
        let mut buf = vec![0u8; 65536];
        let mut out = Vec::new();
        while let Ok(n) = self.socket.recv(&mut buf) {
            out.push(String::from_utf8(buf[..n].to_vec()).unwrap());
        }
        out
    }
}

fn emit(layer: &SyslogLayer, f: impl FnOnce()) {
    let subscriber = tracing_subscriber::registry().with(layer.clone());
    tracing::subscriber::with_default(subscriber, f);
}

/// Splits `<PRI>Mmm dd hh:mm:ss ident[pid]: message` into (pri, timestamp, tag, message).
fn parse(datagram: &str) -> (u16, &str, &str, &str) {
    let rest = datagram.strip_prefix('<').unwrap();
    let (pri, rest) = rest.split_once('>').unwrap();
    let (timestamp, rest) = rest.split_at(15);
    let rest = rest.strip_prefix(' ').unwrap();
    let (tag, message) = rest.split_once(": ").unwrap();
    (pri.parse().unwrap(), timestamp, tag, message)
}

#[test]
fn warning_datagram_has_the_exact_rex_format() {
    let dev_log = FakeDevLog::new();
    let layer = dev_log.layer(LogLevel::Info);
    assert!(layer.is_connected());
    emit(&layer, || {
        tracing::warn!(
            target: "rex_runner",
            principal = "User::\"root\"",
            action = "read",
            denials = 2,
            "authorization denied"
        );
    });
    let got = dev_log.drain();
    assert_eq!(got.len(), 1, "{got:?}");
    let (pri, timestamp, tag, message) = parse(&got[0]);
    assert_eq!(pri, 28, "daemon (3) * 8 + warning (4)");
    assert_eq!(tag, format!("rex_runner[{}]", std::process::id()));
    assert_eq!(
        message,
        r#"authorization denied principal="User::\"root\"" action=read denials=2"#
    );
    // Mmm dd hh:mm:ss, day space-padded.
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    assert!(months.contains(&&timestamp[..3]), "{timestamp}");
    assert_eq!(&timestamp[3..4], " ");
    assert_eq!(&timestamp[6..7], " ");
    assert_eq!(&timestamp[9..10], ":");
    assert_eq!(&timestamp[12..13], ":");
    assert_eq!(layer.sent_count(), 1);
    assert_eq!(layer.dropped_count(), 0);
}

#[test]
fn severity_follows_the_level_and_the_level_filter_applies() {
    let dev_log = FakeDevLog::new();
    let layer = dev_log.layer(LogLevel::Warn);
    emit(&layer, || {
        tracing::trace!("trace: below WARN");
        tracing::debug!("debug: below WARN");
        tracing::info!("info: below WARN");
        tracing::warn!("warn");
        tracing::error!("error");
    });
    let got = dev_log.drain();
    let parsed: Vec<(u16, String)> = got
        .iter()
        .map(|d| {
            let (pri, _, _, m) = parse(d);
            (pri, m.to_owned())
        })
        .collect();
    assert_eq!(parsed, vec![(28, "warn".into()), (27, "error".into())]);

    let dev_log = FakeDevLog::new();
    let layer = dev_log.layer(LogLevel::Trace);
    emit(&layer, || {
        tracing::trace!("t");
        tracing::debug!("d");
        tracing::info!("i");
    });
    let pris: Vec<u16> = dev_log.drain().iter().map(|d| parse(d).0).collect();
    assert_eq!(pris, vec![31, 31, 30]);
}

#[test]
fn script_logs_stay_out_of_syslog() {
    let dev_log = FakeDevLog::new();
    let layer = dev_log.layer(LogLevel::Trace);
    emit(&layer, || {
        tracing::error!(target: "rex_script", "script says hi");
        tracing::error!(target: "rex_script::io", "script io");
        tracing::error!(target: "rex_scripts", "not a script target");
    });
    let messages: Vec<String> = dev_log
        .drain()
        .iter()
        .map(|d| parse(d).3.to_owned())
        .collect();
    assert_eq!(messages, vec!["not a script target".to_owned()]);
}

#[test]
fn long_messages_are_truncated_utf8_safely() {
    let dev_log = FakeDevLog::new();
    let layer = dev_log.layer(LogLevel::Info);
    let long = "é€😀".repeat(2000); // 18 000 bytes, multi-byte everywhere
    emit(&layer, || tracing::info!("{long}"));
    let got = dev_log.drain();
    assert_eq!(got.len(), 1);
    let datagram = &got[0];
    assert!(
        datagram.len() <= SYSLOG_MAX_DATAGRAM_BYTES,
        "{}",
        datagram.len()
    );
    assert!(datagram.len() > SYSLOG_MAX_DATAGRAM_BYTES - 4 - TRUNCATION_MARKER.len());
    assert!(datagram.ends_with(TRUNCATION_MARKER));
    let body = parse(datagram).3;
    let kept = &body[..body.len() - TRUNCATION_MARKER.len()];
    assert!(long.starts_with(kept));

    // A smaller configured cap.
    let layer = SyslogLayer::new(SyslogConfig {
        socket: dev_log.path.clone(),
        max_datagram_bytes: 200,
        ..SyslogConfig::default()
    });
    emit(&layer, || tracing::error!(field = %"x".repeat(500), "msg"));
    let got = dev_log.drain();
    assert!(
        got[0].len() <= 200 && got[0].len() > 190,
        "{}",
        got[0].len()
    );
    assert!(got[0].ends_with(TRUNCATION_MARKER));
}

#[test]
fn control_characters_cannot_forge_a_second_line() {
    let dev_log = FakeDevLog::new();
    let layer = dev_log.layer(LogLevel::Info);
    let resource = "/tmp/a\n<13>Nov  1 00:00:00 sshd[1]: forged";
    emit(&layer, || {
        tracing::warn!(resource, "denied\r\n<13>forged too");
    });
    let got = dev_log.drain();
    assert_eq!(got.len(), 1);
    assert!(!got[0].contains('\n') && !got[0].contains('\r'), "{got:?}");
    assert_eq!(
        parse(&got[0]).3,
        r#"denied\r\n<13>forged too resource="/tmp/a\n<13>Nov  1 00:00:00 sshd[1]: forged""#
    );
}

#[test]
fn a_missing_socket_drops_events_without_error_and_reconnects_later() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let layer = SyslogLayer::new(SyslogConfig {
        socket: path.clone(),
        ..SyslogConfig::default()
    });
    assert!(!layer.is_connected());
    emit(&layer, || {
        tracing::info!("nobody listens");
        tracing::error!("still nobody");
    });
    assert_eq!(layer.sent_count(), 0);
    assert_eq!(layer.dropped_count(), 2);

    // The daemon comes up: the next event connects and is delivered.
    let daemon = UnixDatagram::bind(&path).unwrap();
    daemon
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    emit(&layer, || tracing::info!("now someone listens"));
    let mut buf = [0u8; 4096];
    let n = daemon.recv(&mut buf).unwrap();
    assert!(
        std::str::from_utf8(&buf[..n])
            .unwrap()
            .ends_with(": now someone listens")
    );
    assert_eq!(layer.sent_count(), 1);
    assert_eq!(layer.dropped_count(), 2);
}

#[test]
fn a_restarted_daemon_gets_the_next_event() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let first = UnixDatagram::bind(&path).unwrap();
    let layer = SyslogLayer::new(SyslogConfig {
        socket: path.clone(),
        ..SyslogConfig::default()
    });
    emit(&layer, || tracing::info!("to the first daemon"));
    let mut buf = [0u8; 4096];
    let n = first.recv(&mut buf).unwrap();
    assert!(
        std::str::from_utf8(&buf[..n])
            .unwrap()
            .ends_with(": to the first daemon")
    );

    // The daemon restarts: old socket gone, a new one bound at the same path.
    drop(first);
    std::fs::remove_file(&path).unwrap();
    let second = UnixDatagram::bind(&path).unwrap();
    second
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    emit(&layer, || tracing::info!("to the second daemon"));
    let n = second.recv(&mut buf).unwrap();
    assert!(
        std::str::from_utf8(&buf[..n])
            .unwrap()
            .ends_with(": to the second daemon")
    );
    assert_eq!(layer.sent_count(), 2);
    assert_eq!(layer.dropped_count(), 0);
}

#[test]
fn a_full_socket_never_blocks_the_caller() {
    let dev_log = FakeDevLog::new();
    let layer = dev_log.layer(LogLevel::Info);
    let payload = "x".repeat(2000);
    let total = 5000u64;
    // Nobody reads: the receive queue fills up. A blocking send would hang here.
    emit(&layer, || {
        for i in 0..total {
            tracing::info!(i, "{payload}");
        }
    });
    assert!(layer.dropped_count() > 0, "the queue never filled");
    assert_eq!(layer.sent_count() + layer.dropped_count(), total);
    let got = dev_log.drain();
    assert_eq!(u64::try_from(got.len()).unwrap(), layer.sent_count());
}

proptest! {
    #[test]
    fn any_message_gives_one_capped_line(message in "\\PC*|[\\s\\S]{0,300}", cap in 0usize..600) {
        let dir = tempfile::tempdir().unwrap();
        let layer = SyslogLayer::new(SyslogConfig {
            socket: dir.path().join("absent"),
            max_datagram_bytes: cap,
            ..SyslogConfig::default()
        });
        let cap = layer.config().max_datagram_bytes;
        let d = layer.format_datagram(LogLevel::Warn, &message, SystemTime::now());
        prop_assert!(d.len() <= cap);
        prop_assert!(!d.contains('\n') && !d.contains('\r'));
        let (pri, _, tag, _) = parse(&d);
        prop_assert_eq!(pri, 28);
        prop_assert_eq!(tag, format!("rex_runner[{}]", std::process::id()));
    }
}
