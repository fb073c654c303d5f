//! The config as serde reads it: every value with its span, unknown keys
//! refused. Nothing here is checked yet; see `resolve`.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::diag::{Diag, Src};

pub(super) type S<T> = Spanned<T>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    pub(super) cluster: Option<S<String>>,
    pub(super) node_id: Option<S<i64>>,
    #[serde(default)]
    pub(super) pf: Vec<S<RawPf>>,
    #[serde(default)]
    pub(super) node: BTreeMap<String, S<RawNode>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNode {
    pub(super) id: Option<S<i64>>,
    #[serde(default)]
    pub(super) pf: Vec<S<RawPf>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPf {
    pub(super) name: Option<S<String>>,
    pub(super) pci: Option<S<String>>,
    pub(super) num_vfs: Option<S<i64>>,
    pub(super) up: Option<S<bool>>,
    #[serde(default)]
    pub(super) vf: Vec<S<RawVf>>,
}

macro_rules! raw_vf {
    ($($field:ident : $ty:ty),* $(,)?) => {
        #[derive(Deserialize, Default, Clone)]
        #[serde(deny_unknown_fields)]
        pub(super) struct RawVf {
            pub(super) index: Option<S<i64>>,
            pub(super) range: Option<S<String>>,
            pub(super) indices: Option<S<Vec<i64>>>,
            $(pub(super) $field: Option<S<$ty>>,)*
        }

        impl RawVf {
            /// Folds `other` into `self`; a key both set is reported.
            pub(super) fn merge(&mut self, other: &RawVf, src: &Src<'_>, index: u32, diags: &mut Vec<Diag>) {
                $(
                    if let Some(v) = &other.$field {
                        if let Some(old) = &self.$field {
                            diags.push(Diag {
                                loc: Some(src.loc(v.span().start)),
                                msg: format!(
                                    "VF {index}: `{}` is already set at {} (each key may be set once per VF)",
                                    stringify!($field),
                                    src.loc(old.span().start)
                                ),
                            });
                        } else {
                            self.$field = Some(v.clone());
                        }
                    }
                )*
            }
        }
    };
}

raw_vf! {
    mac: String,
    vlan: i64,
    qos: i64,
    vlan_proto: String,
    trust: bool,
    spoofchk: bool,
    link_state: String,
    min_tx_rate: i64,
    max_tx_rate: i64,
    query_rss: bool,
    name: String,
    up: bool,
    promisc: bool,
    mtu: i64,
    addresses: Vec<S<String>>,
    gateway: String,
    driver: String,
    lxc: i64,
    vm: String,
    mapping: String,
    description: String,
}
