//! Property tests: byte-exact round trips, idempotent edits, and "what we write
//! is what the kernel reads back".

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bootcmd::{grub, kernel_cmdline, Cmdline, Edit};
use proptest::prelude::*;

/// Command-line-ish text: quotes, `=`, `-`/`_`, commas, whitespace, `--`.
fn cmdline_text() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[ a-c_=\"\t\n,-]{0,40}( -- [ a-c=\"]{0,10})?").unwrap()
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("intel_iommu".to_owned()),
        Just("intel-iommu".to_owned()),
        Just("iommu".to_owned()),
        Just("amd_iommu".to_owned()),
        Just("console".to_owned()),
        Just("quiet".to_owned()),
        Just("a".to_owned()),
        Just("b-c".to_owned()),
    ]
}

fn value() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some(String::new())),
        Just(Some("on".to_owned())),
        Just(Some("pt".to_owned())),
        Just(Some("on,sm_on".to_owned())),
        Just(Some("a b".to_owned())),
        Just(Some("x=y".to_owned())),
        Just(Some("caf\u{e0}".to_owned())),
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (key(), value()).prop_map(|(k, v)| Edit::Ensure { key: k, value: v }),
        key().prop_map(|k| Edit::remove(&k)),
        (key(), prop_oneof![Just("on"), Just("off"), Just("pt")])
            .prop_map(|(k, o)| Edit::remove_option(&k, o)),
    ]
}

/// A list that both removes and ensures one key contradicts itself; such lists
/// are not expected to be idempotent.
fn consistent(edits: &[Edit]) -> bool {
    let norm = |e: &Edit| e.key().replace('-', "_");
    let ensured: Vec<String> = edits
        .iter()
        .filter(|e| matches!(e, Edit::Ensure { .. }))
        .map(norm)
        .collect();
    edits
        .iter()
        .filter(|e| !matches!(e, Edit::Ensure { .. }))
        .all(|e| !ensured.contains(&norm(e)))
}

proptest! {
    #![proptest_config(ProptestConfig { max_global_rejects: 1_000_000, ..ProptestConfig::with_cases(2000) })]

    #[test]
    fn round_trip_any_string(s in ".*") {
        prop_assert_eq!(Cmdline::parse(&s).to_string(), s);
    }

    #[test]
    fn round_trip_any_bytes(b in proptest::collection::vec(any::<u8>(), 0..120)) {
        prop_assert_eq!(Cmdline::from_bytes(&b).to_bytes(), b);
    }

    #[test]
    fn round_trip_cmdline_like(s in cmdline_text()) {
        prop_assert_eq!(Cmdline::parse(&s).to_string(), s);
    }

    /// Edit lists are idempotent, and the printed result parses back to the same
    /// structure (no token merged into its neighbour, nothing swallowed by a quote).
    #[test]
    fn edits_idempotent_and_reparse(s in cmdline_text(), edits in proptest::collection::vec(edit(), 1..4)) {
        prop_assume!(consistent(&edits));
        let mut c = Cmdline::parse(&s);
        if c.apply(&edits).is_ok() {
            let once = c.to_string();
            prop_assert_eq!(&Cmdline::parse(&once), &c);
            c.apply(&edits).unwrap();
            prop_assert_eq!(c.to_string(), once);
        }
    }

    /// A single edit applied a second time reports "no change".
    #[test]
    fn single_edit_second_time_is_noop(s in cmdline_text(), e in edit()) {
        let mut c = Cmdline::parse(&s);
        if c.apply(std::slice::from_ref(&e)).is_ok() {
            let once = c.to_string();
            prop_assert!(!c.apply(std::slice::from_ref(&e)).unwrap(), "{} changed {:?} again", e, once);
            prop_assert_eq!(c.to_string(), once);
        }
    }

    /// After ensure, the kernel reads back exactly the requested value.
    #[test]
    fn ensure_reads_back(s in cmdline_text(), k in key(), v in value()) {
        let mut c = Cmdline::parse(&s);
        c.ensure_param(&k, v.as_deref()).unwrap();
        let back = Cmdline::parse(&c.to_string());
        match bootcmd::key_kind(&k) {
            bootcmd::KeyKind::OptionList if v.is_some() => {
                for o in v.as_deref().unwrap().split(',').filter(|o| !o.is_empty()) {
                    prop_assert!(back.has_option(&k, o), "{} lacks {}", back, o);
                }
            }
            bootcmd::KeyKind::Repeatable => {
                let all = back.get_all(&k);
                prop_assert!(all.iter().any(|p| p.value().as_deref() == v.as_deref()));
            }
            _ => {
                prop_assert_eq!(back.get_all(&k).len(), 1);
                let got = back.value(&k).map(|c| c.into_owned());
                prop_assert_eq!(got.as_deref(), v.as_deref());
            }
        }
        // Never behind `--`.
        prop_assert!(back.init_args().all(|p| !p.key_matches(&k)) || Cmdline::parse(&s).init_args().any(|p| p.key_matches(&k)));
    }

    /// The GRUB editor never panics; when it succeeds, a second run is a no-op.
    #[test]
    fn grub_edit_any_text(t in ".{0,200}", edits in proptest::collection::vec(edit(), 1..3)) {
        prop_assume!(consistent(&edits));
        if let Ok(out) = grub::edit_text(&t, &edits) {
            prop_assert_eq!(grub::edit_text(&out, &edits).unwrap(), out);
        }
    }

    /// On GRUB files with the value in any quoting style, editing in place gives
    /// the same command line as editing the decoded value directly, and keeps the
    /// other lines.
    #[test]
    fn grub_edit_matches_cmdline_edit(
        v in "[ a-c=_,-]{0,30}",
        style in 0..3usize,
        edits in proptest::collection::vec(edit(), 1..3),
    ) {
        let quoted = match style {
            0 => format!("\"{v}\""),
            1 => format!("'{v}'"),
            _ => v.split_whitespace().collect::<Vec<_>>().join(""),
        };
        let plain = match style { 2 => quoted.clone(), _ => v.clone() };
        let t = format!("# head `x'\nGRUB_DISTRIBUTOR=`echo x`\nGRUB_CMDLINE_LINUX_DEFAULT={quoted}\nGRUB_TIMEOUT=5\n");
        let mut want = Cmdline::parse(&plain);
        let ok = want.apply(&edits).is_ok();
        let got = grub::edit_text(&t, &edits);
        prop_assert_eq!(got.is_ok(), ok);
        if let Ok(out) = got {
            prop_assert!(out.starts_with("# head `x'\nGRUB_DISTRIBUTOR=`echo x`\nGRUB_CMDLINE_LINUX_DEFAULT="));
            prop_assert!(out.ends_with("\nGRUB_TIMEOUT=5\n"));
            let g = grub::GrubDefaults::from_texts(vec![("/g".into(), out.clone())]).unwrap();
            prop_assert_eq!(g.value(grub::LINUX_DEFAULT).unwrap().unwrap_or_default(), want.to_string());
        }
    }

    /// /etc/kernel/cmdline edits keep the tail and are idempotent.
    #[test]
    fn kernel_cmdline_edit(s in "[ a-c=_-]{0,20}", edits in proptest::collection::vec(edit(), 1..3)) {
        prop_assume!(consistent(&edits));
        let text = format!("root=ZFS=rpool/ROOT/pve-1 {s}\n");
        let p = std::path::Path::new("/etc/kernel/cmdline");
        if let Ok(out) = kernel_cmdline::edit(p, &text, &edits) {
            prop_assert!(out.ends_with('\n') && out.matches('\n').count() == 1);
            prop_assert_eq!(kernel_cmdline::edit(p, &out, &edits).unwrap(), out);
        }
    }
}
