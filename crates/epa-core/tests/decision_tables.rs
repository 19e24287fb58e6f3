//! Every row of every outcome table in `docs/windows-semantics.md`, one test per row, named after
//! it.
//!
//! * §4.8 — the documented contract: HTTPS outcomes 1–3, HTTP outcomes 1–4 (profile `documented`);
//! * §4.5 — the SSPI channel-binding table, 5 rows × M/X/A/Z;
//! * §4.6 — the HttpListener decision table, rows 1–15, for `dotnet-legacy` and `dotnet8`;
//! * §6.2 — the http.sys / IIS matrix (profile `iis`).

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use epa_core::decide::{
    BindingObservation as Cb, ClientServiceName, Mechanism, Profile, Transport,
};
use epa_core::policy::{IisExtendedProtection, IisFlags, TokenChecking};
use epa_core::{
    Decision, ExtendedProtectionPolicy, PolicyEnforcement as Pe, PolicyError,
    ProtectionScenario as Ps, RequestFacts, ServerPolicy, ServiceNameCollection, decide,
};

const LISTED: &str = "HTTP/www.contoso.com";
const UNLISTED: &str = "HTTP/evil.example";

/// A server with custom names `[LISTED]` (or the defaults when `custom` is false).
fn server(profile: Profile, pe: Pe, ps: Ps, custom: bool) -> ServerPolicy {
    let policy = if pe == Pe::Never {
        ExtendedProtectionPolicy::never()
    } else if custom {
        ExtendedProtectionPolicy::with_service_names(pe, ps, [LISTED]).unwrap()
    } else {
        ExtendedProtectionPolicy::new(pe, ps, None).unwrap()
    };
    let defaults = ServiceNameCollection::new([LISTED]).unwrap();
    ServerPolicy::new(policy, &defaults, profile).unwrap()
}

fn facts(transport: Transport, cb: Cb, spn: Option<&str>) -> RequestFacts {
    RequestFacts {
        transport,
        mechanism: Mechanism::Ntlm,
        server_supports_ep: true,
        channel_binding: cb,
        client_spn: ClientServiceName::from_option(spn),
    }
}

fn kerberos(mut f: RequestFacts) -> RequestFacts {
    f.mechanism = Mechanism::Kerberos;
    f
}

fn no_ep_server(mut f: RequestFacts) -> RequestFacts {
    f.server_supports_ep = false;
    f
}

#[track_caller]
fn accepts(d: Decision, code: &str, service_name: Option<&str>) {
    match d {
        Decision::Accept {
            service_name: s,
            reason,
        } => {
            assert_eq!(reason.code(), code, "accept reason: {}", reason.message());
            assert_eq!(s.as_option(), service_name, "ServiceName");
        }
        other => panic!("expected accept ({code}), got {other:?}"),
    }
}

#[track_caller]
fn rejects(d: Decision, status: u16, code: &str) {
    match d {
        Decision::Reject {
            status: s, reason, ..
        } => {
            assert_eq!(s, status, "status for {}", reason.message());
            assert_eq!(reason.code(), code, "reject reason: {}", reason.message());
        }
        other => panic!("expected reject {status} ({code}), got {other:?}"),
    }
}

use Transport::{Http, Https};

/// One table row over the four client states M, X, A, Z with a listed SPN, so that only the
/// binding layer decides: `None` = accepted, `Some(code)` = 401 with that reason.
#[track_caller]
fn assert_cells(s: &ServerPolicy, transport: Transport, expected: [Option<&str>; 4]) {
    for (cb, want) in [Cb::Match, Cb::Mismatch, Cb::Absent, Cb::Unbound]
        .into_iter()
        .zip(expected)
    {
        let d = decide(s, &facts(transport, cb, Some(LISTED)));
        match want {
            None => assert!(d.is_accept(), "{cb:?}: {d:?}"),
            Some(code) => rejects(d, 401, code),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// §4.8 The documented contract (profile `documented`).
// ---------------------------------------------------------------------------------------------
mod documented {
    use super::*;
    const P: Profile = Profile::Documented;

    #[test]
    fn https_outcome_1_server_without_ep_is_401() {
        for pe in [Pe::WhenSupported, Pe::Always] {
            let d = decide(
                &server(P, pe, Ps::TransportSelected, true),
                &no_ep_server(facts(Https, Cb::Match, Some(LISTED))),
            );
            assert_eq!(d.service_name(), &ClientServiceName::Missing);
            rejects(d, 401, "server-lacks-ep");
        }
    }

    #[test]
    fn https_outcome_2_binding_check_fails_is_401() {
        for pe in [Pe::WhenSupported, Pe::Always] {
            let s = server(P, pe, Ps::TransportSelected, true);
            rejects(
                decide(&s, &facts(Https, Cb::Mismatch, Some(LISTED))),
                401,
                "binding-mismatch",
            );
            rejects(
                decide(&s, &facts(Https, Cb::Unbound, Some(LISTED))),
                401,
                "binding-unbound",
            );
        }
        let s = server(P, Pe::Always, Ps::TransportSelected, true);
        rejects(
            decide(&s, &facts(Https, Cb::Absent, None)),
            401,
            "binding-absent",
        );
    }

    #[test]
    fn https_outcome_3_accepted_without_service_name_check() {
        for pe in [Pe::WhenSupported, Pe::Always] {
            let s = server(P, pe, Ps::TransportSelected, true);
            // The SPN is not in the list, and it does not matter: no SPN check on HTTPS.
            accepts(
                decide(&s, &facts(Https, Cb::Match, Some(UNLISTED))),
                "binding-verified",
                Some(UNLISTED),
            );
        }
        let s = server(P, Pe::WhenSupported, Ps::TransportSelected, true);
        accepts(
            decide(&s, &facts(Https, Cb::Absent, None)),
            "binding-absent-allowed",
            None,
        );
    }

    #[test]
    fn http_outcome_1_server_without_ep_is_401_service_name_null() {
        for pe in [Pe::WhenSupported, Pe::Always] {
            let d = decide(
                &server(P, pe, Ps::TransportSelected, true),
                &no_ep_server(facts(Http, Cb::NotChecked, Some(LISTED))),
            );
            assert_eq!(d.service_name(), &ClientServiceName::Missing);
            rejects(d, 401, "server-lacks-ep");
        }
    }

    #[test]
    fn http_outcome_2_client_without_ep_when_supported_accepts_always_401() {
        let f = facts(Http, Cb::Absent, None);
        accepts(
            decide(
                &server(P, Pe::WhenSupported, Ps::TransportSelected, true),
                &f,
            ),
            "service-name-not-provided-allowed",
            None,
        );
        let d = decide(&server(P, Pe::Always, Ps::TransportSelected, true), &f);
        assert_eq!(d.service_name(), &ClientServiceName::Missing);
        rejects(d, 401, "service-name-not-provided");
    }

    #[test]
    fn http_outcome_3_ep_client_with_empty_service_name_is_401_service_name_empty() {
        for pe in [Pe::WhenSupported, Pe::Always] {
            let d = decide(
                &server(P, pe, Ps::TransportSelected, true),
                &facts(Http, Cb::Unbound, Some("")),
            );
            assert_eq!(d.service_name(), &ClientServiceName::Empty);
            rejects(d, 401, "service-name-empty");
        }
    }

    #[test]
    fn http_outcome_4_client_service_name_compared_with_the_list() {
        for pe in [Pe::WhenSupported, Pe::Always] {
            let s = server(P, pe, Ps::TransportSelected, true);
            accepts(
                decide(&s, &facts(Http, Cb::Unbound, Some("http/WWW.CONTOSO.COM"))),
                "service-name-matched",
                Some("http/WWW.CONTOSO.COM"),
            );
            let d = decide(&s, &facts(Http, Cb::Unbound, Some(UNLISTED)));
            assert_eq!(d.service_name(), &ClientServiceName::Value(UNLISTED.into()));
            rejects(d, 401, "service-name-not-in-list");
        }
    }

    #[test]
    fn silent_row_6_follows_dotnet8_spn_check_runs_without_server_binding() {
        let s = server(P, Pe::Always, Ps::TransportSelected, true);
        rejects(
            decide(&s, &facts(Https, Cb::NotChecked, Some(UNLISTED))),
            401,
            "service-name-not-in-list",
        );
        accepts(
            decide(&s, &facts(Https, Cb::NotChecked, Some(LISTED))),
            "service-name-matched",
            Some(LISTED),
        );
    }

    #[test]
    fn silent_localhost_follows_dotnet8_default_names_only() {
        let defaults = server(P, Pe::Always, Ps::TransportSelected, false);
        accepts(
            decide(&defaults, &facts(Http, Cb::Absent, Some("HTTP/localhost"))),
            "service-name-matched",
            Some("HTTP/localhost"),
        );
        let custom = server(P, Pe::Always, Ps::TransportSelected, true);
        rejects(
            decide(&custom, &facts(Http, Cb::Absent, Some("http/localhost"))),
            401,
            "service-name-not-in-list",
        );
    }
}

// ---------------------------------------------------------------------------------------------
// §4.5 The SSPI channel-binding table. Each row is a (policy, transport) that hands the SSP the
// same binding and flags; the SPN is listed so that only the binding layer decides.
// ---------------------------------------------------------------------------------------------
mod sspi_table {
    use super::*;
    const P: Profile = Profile::Documented;

    /// `expected`: `None` = OK, `Some(code)` = SEC_E_BAD_BINDINGS with that reason.
    #[track_caller]
    fn row(pe: Pe, ps: Ps, transport: Transport, expected: [Option<&str>; 4]) {
        assert_cells(&server(P, pe, ps, true), transport, expected);
    }

    #[test]
    fn row_server_passes_cbt_no_flags_always() {
        row(
            Pe::Always,
            Ps::TransportSelected,
            Https,
            [
                None,
                Some("binding-mismatch"),
                Some("binding-absent"),
                Some("binding-unbound"),
            ],
        );
    }

    #[test]
    fn row_server_passes_cbt_allow_missing_when_supported() {
        // ALLOW_MISSING rescues only clients without CLIENT_SUPPORT: Z still fails.
        row(
            Pe::WhenSupported,
            Ps::TransportSelected,
            Https,
            [
                None,
                Some("binding-mismatch"),
                None,
                Some("binding-unbound"),
            ],
        );
    }

    #[test]
    fn row_no_cbt_proxy_bindings_always() {
        for t in [Https, Http] {
            row(
                Pe::Always,
                Ps::TrustedProxy,
                t,
                [None, None, Some("binding-absent"), Some("binding-unbound")],
            );
        }
    }

    #[test]
    fn row_no_cbt_proxy_bindings_allow_missing_when_supported() {
        for t in [Https, Http] {
            row(
                Pe::WhenSupported,
                Ps::TrustedProxy,
                t,
                [None, None, None, Some("binding-unbound")],
            );
        }
    }

    #[test]
    fn row_no_cbt_no_proxy_flag_plain_http_nothing_to_compare() {
        for pe in [Pe::WhenSupported, Pe::Always] {
            row(pe, Ps::TransportSelected, Http, [None, None, None, None]);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// §4.6 The HttpListener decision table, rows 1–15, in both code profiles.
// ---------------------------------------------------------------------------------------------
mod httplistener {
    use super::*;
    const LEGACY: Profile = Profile::DotnetLegacy;
    const NET8: Profile = Profile::Dotnet8;

    #[test]
    fn row_01_never_accepts_everything_service_name_is_the_client_spn() {
        for p in [LEGACY, NET8, Profile::Documented, Profile::Iis] {
            let s = server(p, Pe::Never, Ps::TransportSelected, false);
            for t in [Https, Http] {
                for cb in [
                    Cb::Match,
                    Cb::Mismatch,
                    Cb::Absent,
                    Cb::Unbound,
                    Cb::NotChecked,
                ] {
                    accepts(
                        decide(&s, &facts(t, cb, Some(UNLISTED))),
                        "ep-disabled",
                        Some(UNLISTED),
                    );
                    accepts(decide(&s, &facts(t, cb, None)), "ep-disabled", None);
                }
            }
        }
    }

    #[test]
    fn row_02_https_transport_selected_match_accepts_without_spn_check() {
        for p in [LEGACY, NET8] {
            for pe in [Pe::WhenSupported, Pe::Always] {
                accepts(
                    decide(
                        &server(p, pe, Ps::TransportSelected, true),
                        &facts(Https, Cb::Match, Some(UNLISTED)),
                    ),
                    "binding-verified",
                    Some(UNLISTED),
                );
            }
        }
    }

    #[test]
    fn row_03_https_transport_selected_mismatch_or_unbound_is_401() {
        for p in [LEGACY, NET8] {
            for pe in [Pe::WhenSupported, Pe::Always] {
                let s = server(p, pe, Ps::TransportSelected, true);
                rejects(
                    decide(&s, &facts(Https, Cb::Mismatch, Some(LISTED))),
                    401,
                    "binding-mismatch",
                );
                rejects(
                    decide(&s, &facts(Https, Cb::Unbound, Some(LISTED))),
                    401,
                    "binding-unbound",
                );
            }
        }
    }

    #[test]
    fn row_04_always_https_absent_is_401() {
        for p in [LEGACY, NET8] {
            rejects(
                decide(
                    &server(p, Pe::Always, Ps::TransportSelected, true),
                    &facts(Https, Cb::Absent, None),
                ),
                401,
                "binding-absent",
            );
        }
    }

    #[test]
    fn row_05_when_supported_https_absent_accepts() {
        for p in [LEGACY, NET8] {
            accepts(
                decide(
                    &server(p, Pe::WhenSupported, Ps::TransportSelected, true),
                    &facts(Https, Cb::Absent, None),
                ),
                "binding-absent-allowed",
                None,
            );
        }
    }

    #[test]
    fn row_06_https_without_server_binding_legacy_fails_open_dotnet8_checks_spn() {
        for pe in [Pe::WhenSupported, Pe::Always] {
            let f = facts(Https, Cb::NotChecked, Some(UNLISTED));
            accepts(
                decide(&server(LEGACY, pe, Ps::TransportSelected, true), &f),
                "binding-unavailable-fail-open",
                Some(UNLISTED),
            );
            rejects(
                decide(&server(NET8, pe, Ps::TransportSelected, true), &f),
                401,
                "service-name-not-in-list",
            );
        }
    }

    #[test]
    fn row_07_when_supported_http_no_spn_accepts_null_or_empty() {
        for p in [LEGACY, NET8] {
            let s = server(p, Pe::WhenSupported, Ps::TransportSelected, true);
            accepts(
                decide(&s, &facts(Http, Cb::Absent, None)),
                "service-name-not-provided-allowed",
                None,
            );
            accepts(
                decide(&s, &facts(Http, Cb::Unbound, Some(""))),
                "service-name-not-provided-allowed",
                Some(""),
            );
        }
    }

    #[test]
    fn row_08_always_http_no_spn_is_401() {
        for p in [LEGACY, NET8] {
            let s = server(p, Pe::Always, Ps::TransportSelected, true);
            rejects(
                decide(&s, &facts(Http, Cb::Absent, None)),
                401,
                "service-name-not-provided",
            );
            rejects(
                decide(&s, &facts(Http, Cb::Unbound, Some(""))),
                401,
                "service-name-not-provided",
            );
        }
    }

    #[test]
    fn row_09_http_localhost_legacy_exempt_dotnet8_only_if_listed() {
        for pe in [Pe::WhenSupported, Pe::Always] {
            let f = facts(Http, Cb::Unbound, Some("HTTP/LocalHost"));
            // Legacy: exact exemption, custom names or not.
            accepts(
                decide(&server(LEGACY, pe, Ps::TransportSelected, true), &f),
                "local-client",
                Some("HTTP/LocalHost"),
            );
            // Legacy exemption is not normalised: a port defeats it.
            rejects(
                decide(
                    &server(LEGACY, pe, Ps::TransportSelected, true),
                    &facts(Http, Cb::Unbound, Some("HTTP/localhost:8080")),
                ),
                401,
                "service-name-not-in-list",
            );
            // .NET 8+: the default list contains it, a custom list must.
            accepts(
                decide(&server(NET8, pe, Ps::TransportSelected, false), &f),
                "service-name-matched",
                Some("HTTP/LocalHost"),
            );
            rejects(
                decide(&server(NET8, pe, Ps::TransportSelected, true), &f),
                401,
                "service-name-not-in-list",
            );
        }
    }

    #[test]
    fn row_10_http_spn_in_list_accepts() {
        for p in [LEGACY, NET8] {
            for pe in [Pe::WhenSupported, Pe::Always] {
                for custom in [true, false] {
                    accepts(
                        decide(
                            &server(p, pe, Ps::TransportSelected, custom),
                            &facts(Http, Cb::Unbound, Some(LISTED)),
                        ),
                        "service-name-matched",
                        Some(LISTED),
                    );
                }
            }
        }
    }

    #[test]
    fn row_11_http_spn_not_in_list_is_401() {
        for p in [LEGACY, NET8] {
            for pe in [Pe::WhenSupported, Pe::Always] {
                rejects(
                    decide(
                        &server(p, pe, Ps::TransportSelected, true),
                        &facts(Http, Cb::Unbound, Some(UNLISTED)),
                    ),
                    401,
                    "service-name-not-in-list",
                );
            }
        }
    }

    #[test]
    fn row_12_no_names_legacy_500_only_at_the_list_dotnet8_refuses_configuration() {
        let empty = ServiceNameCollection::default();
        for pe in [Pe::WhenSupported, Pe::Always] {
            let policy = ExtendedProtectionPolicy::new(pe, Ps::TransportSelected, None).unwrap();
            // .NET 8+: InvalidOperationException on every new context → refused up front.
            assert_eq!(
                ServerPolicy::new(policy.clone(), &empty, NET8).unwrap_err(),
                PolicyError::NoServiceNames
            );
            let legacy = ServerPolicy::new(policy, &empty, LEGACY).unwrap();
            // Reached only for HTTP, non-Kerberos, a non-empty SPN that is not localhost.
            rejects(
                decide(&legacy, &facts(Http, Cb::Unbound, Some(UNLISTED))),
                500,
                "no-service-names",
            );
            accepts(
                decide(&legacy, &facts(Https, Cb::Match, Some(UNLISTED))),
                "binding-verified",
                Some(UNLISTED),
            );
            accepts(
                decide(&legacy, &facts(Http, Cb::Unbound, Some("http/localhost"))),
                "local-client",
                Some("http/localhost"),
            );
            accepts(
                decide(
                    &legacy,
                    &kerberos(facts(Http, Cb::NotChecked, Some(UNLISTED))),
                ),
                "kerberos-validates-service-name",
                Some(UNLISTED),
            );
        }
        // Never needs no names in any profile.
        assert!(ServerPolicy::new(ExtendedProtectionPolicy::never(), &empty, NET8).is_ok());
    }

    #[test]
    fn row_13_trusted_proxy_binding_then_spn_check() {
        for p in [LEGACY, NET8] {
            for t in [Https, Http] {
                let always = server(p, Pe::Always, Ps::TrustedProxy, true);
                let ws = server(p, Pe::WhenSupported, Ps::TrustedProxy, true);
                // M/X → OK, then the SPN check decides.
                for cb in [Cb::Match, Cb::Mismatch] {
                    accepts(
                        decide(&always, &facts(t, cb, Some(LISTED))),
                        "service-name-matched",
                        Some(LISTED),
                    );
                    rejects(
                        decide(&always, &facts(t, cb, Some(UNLISTED))),
                        401,
                        "service-name-not-in-list",
                    );
                }
                // Z → 401.
                rejects(
                    decide(&ws, &facts(t, Cb::Unbound, Some(LISTED))),
                    401,
                    "binding-unbound",
                );
                // A → 401 under Always, OK under WhenSupported (then no SPN → allowed).
                rejects(
                    decide(&always, &facts(t, Cb::Absent, None)),
                    401,
                    "binding-absent",
                );
                accepts(
                    decide(&ws, &facts(t, Cb::Absent, None)),
                    "service-name-not-provided-allowed",
                    None,
                );
            }
        }
    }

    #[test]
    fn row_13_extension_proxy_certificate_named_mismatch_is_refused() {
        for p in [LEGACY, NET8, Profile::Documented] {
            for pe in [Pe::WhenSupported, Pe::Always] {
                let s = server(p, pe, Ps::TrustedProxy, true).with_proxy_binding_verification();
                rejects(
                    decide(&s, &facts(Http, Cb::Mismatch, Some(LISTED))),
                    401,
                    "binding-mismatch",
                );
                accepts(
                    decide(&s, &facts(Http, Cb::Match, Some(LISTED))),
                    "service-name-matched",
                    Some(LISTED),
                );
            }
        }
    }

    #[test]
    fn row_14_kerberos_skips_spn_check_binding_still_enforced() {
        for p in [LEGACY, NET8, Profile::Documented, Profile::Iis] {
            let s = server(p, Pe::Always, Ps::TransportSelected, true);
            accepts(
                decide(&s, &kerberos(facts(Http, Cb::NotChecked, Some(UNLISTED)))),
                "kerberos-validates-service-name",
                Some(UNLISTED),
            );
            accepts(
                decide(&s, &kerberos(facts(Https, Cb::Match, None))),
                "kerberos-validates-service-name",
                None,
            );
            rejects(
                decide(&s, &kerberos(facts(Https, Cb::Mismatch, None))),
                401,
                "binding-mismatch",
            );
            rejects(
                decide(&s, &kerberos(facts(Https, Cb::Absent, None))),
                401,
                "binding-absent",
            );
        }
    }

    #[test]
    fn row_15_basic_or_anonymous_is_outside_the_decision() {
        // Basic and anonymous requests never reach `decide` (no security package, no EPA); the
        // adapter lets them through untouched. What we can check here: `Other` mechanisms are
        // held to the NTLM rules, not waved through.
        let s = server(NET8, Pe::Always, Ps::TransportSelected, true);
        let mut f = facts(Http, Cb::Unbound, Some(UNLISTED));
        f.mechanism = Mechanism::Other;
        rejects(decide(&s, &f), 401, "service-name-not-in-list");
    }

    #[test]
    fn server_without_ep_legacy_and_dotnet8_throw_for_always_ignore_when_supported() {
        for p in [LEGACY, NET8] {
            let f = no_ep_server(facts(Http, Cb::NotChecked, Some(UNLISTED)));
            rejects(
                decide(&server(p, Pe::Always, Ps::TransportSelected, true), &f),
                500,
                "ep-unsupported",
            );
            accepts(
                decide(
                    &server(p, Pe::WhenSupported, Ps::TransportSelected, true),
                    &f,
                ),
                "ep-unavailable-ignored",
                Some(UNLISTED),
            );
        }
    }

    #[test]
    fn custom_channel_binding_refused_by_httplistener_profiles() {
        let policy = ExtendedProtectionPolicy::with_channel_binding(
            Pe::Always,
            epa_core::ChannelBinding::tls_unique(&[1; 12]),
        )
        .unwrap();
        let names = ServiceNameCollection::new([LISTED]).unwrap();
        for p in [LEGACY, NET8] {
            assert!(matches!(
                ServerPolicy::new(policy.clone(), &names, p),
                Err(PolicyError::CustomChannelBindingNotSupported { .. })
            ));
        }
        assert!(ServerPolicy::new(policy, &names, Profile::Documented).is_ok());
    }
}

// ---------------------------------------------------------------------------------------------
// §6.2 The http.sys / IIS matrix (profile `iis`). Each cell assumes the exchange is otherwise
// valid; the SPN is listed so that the binding column decides unless the row is about SPNs.
// ---------------------------------------------------------------------------------------------
mod iis_matrix {
    use super::*;

    fn iis(tc: TokenChecking, flags: &str, spns: &[&str]) -> ServerPolicy {
        let policy = IisExtendedProtection {
            token_checking: tc,
            flags: IisFlags::parse(flags).unwrap(),
            spns: spns.iter().map(|s| s.to_string()).collect(),
        }
        .to_policy()
        .unwrap();
        ServerPolicy::new(policy, &ServiceNameCollection::default(), Profile::Iis).unwrap()
    }

    use super::assert_cells as cells;

    #[test]
    fn legacy_none_accepts_all() {
        for t in [Https, Http] {
            cells(&iis(TokenChecking::None, "", &[]), t, [None; 4]);
        }
    }

    #[test]
    fn medium_no_flags_tls() {
        cells(
            &iis(TokenChecking::Allow, "", &[]),
            Https,
            [
                None,
                Some("binding-mismatch"),
                None,
                Some("binding-unbound"),
            ],
        );
        // No SPN check on TLS.
        accepts(
            decide(
                &iis(TokenChecking::Allow, "", &[LISTED]),
                &facts(Https, Cb::Match, Some(UNLISTED)),
            ),
            "binding-verified",
            Some(UNLISTED),
        );
    }

    #[test]
    fn strict_no_flags_tls() {
        cells(
            &iis(TokenChecking::Require, "", &[]),
            Https,
            [
                None,
                Some("binding-mismatch"),
                Some("binding-absent"),
                Some("binding-unbound"),
            ],
        );
    }

    #[test]
    fn medium_strict_no_flags_plain_http_no_spn_check_unless_names_configured() {
        for tc in [TokenChecking::Allow, TokenChecking::Require] {
            let s = iis(tc, "", &[]);
            cells(&s, Http, [None; 4]);
            accepts(
                decide(&s, &facts(Http, Cb::Unbound, Some(UNLISTED))),
                "no-service-name-check-without-proxy",
                Some(UNLISTED),
            );
            let with_names = iis(tc, "", &[LISTED]);
            rejects(
                decide(&with_names, &facts(Http, Cb::Unbound, Some(UNLISTED))),
                401,
                "service-name-not-in-list",
            );
        }
    }

    #[test]
    fn medium_proxy() {
        let s = iis(TokenChecking::Allow, "Proxy", &[LISTED]);
        for t in [Https, Http] {
            cells(&s, t, [None, None, None, Some("binding-unbound")]);
            rejects(
                decide(&s, &facts(t, Cb::Match, Some(UNLISTED))),
                401,
                "service-name-not-in-list",
            );
        }
    }

    #[test]
    fn strict_proxy() {
        let s = iis(TokenChecking::Require, "Proxy", &[LISTED]);
        for t in [Https, Http] {
            cells(
                &s,
                t,
                [None, None, Some("binding-absent"), Some("binding-unbound")],
            );
            rejects(
                decide(&s, &facts(t, Cb::Mismatch, Some(UNLISTED))),
                401,
                "service-name-not-in-list",
            );
        }
    }

    #[test]
    fn proxy_cohosting_accepts_unbound() {
        let medium = iis(TokenChecking::Allow, "Proxy, ProxyCohosting", &[LISTED]);
        let strict = iis(TokenChecking::Require, "Proxy, ProxyCohosting", &[LISTED]);
        for t in [Https, Http] {
            cells(&medium, t, [None, None, None, None]);
            cells(&strict, t, [None, None, Some("binding-absent"), None]);
            rejects(
                decide(&strict, &facts(t, Cb::Unbound, Some(UNLISTED))),
                401,
                "service-name-not-in-list",
            );
        }
    }

    #[test]
    fn no_service_name_check_always_succeeds() {
        let s = iis(
            TokenChecking::Require,
            "Proxy, NoServiceNameCheck",
            &[LISTED],
        );
        accepts(
            decide(&s, &facts(Http, Cb::Match, Some(UNLISTED))),
            "service-name-check-disabled",
            Some(UNLISTED),
        );
        // The binding layer still runs first.
        rejects(
            decide(&s, &facts(Http, Cb::Unbound, Some(LISTED))),
            401,
            "binding-unbound",
        );
    }

    /// Like [`iis`], bound to a listener whose prefixes would give default names: http.sys
    /// never uses them (#11 item 8), so the outcome must not change.
    fn iis_with_defaults(tc: TokenChecking, flags: &str, spns: &[&str]) -> ServerPolicy {
        let policy = IisExtendedProtection {
            token_checking: tc,
            flags: IisFlags::parse(flags).unwrap(),
            spns: spns.iter().map(|s| s.to_string()).collect(),
        }
        .to_policy()
        .unwrap();
        let defaults = ServiceNameCollection::new([LISTED, "HTTP/localhost"]).unwrap();
        ServerPolicy::new(policy, &defaults, Profile::Iis).unwrap()
    }

    #[test]
    fn proxy_without_spn_entries_refuses_every_spn_even_with_listener_prefixes() {
        for tc in [TokenChecking::Allow, TokenChecking::Require] {
            for flags in ["Proxy", "Proxy, ProxyCohosting"] {
                let s = iis_with_defaults(tc, flags, &[]);
                assert!(s.acceptable_service_names().is_empty(), "{flags}");
                for t in [Https, Http] {
                    for spn in [LISTED, "http/localhost", "HTTP/localhost", UNLISTED] {
                        for cb in [Cb::Match, Cb::Mismatch] {
                            rejects(
                                decide(&s, &facts(t, cb, Some(spn))),
                                401,
                                "service-name-not-in-list",
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn spn_entries_alone_are_the_acceptable_names_not_the_prefixes() {
        let other = "HTTP/portal.contoso.com";
        let s = iis_with_defaults(TokenChecking::Require, "Proxy", &[other]);
        assert_eq!(s.acceptable_service_names().len(), 1);
        accepts(
            decide(&s, &facts(Http, Cb::Mismatch, Some(other))),
            "service-name-matched",
            Some(other),
        );
        // Listed by the listener's prefixes only: refused.
        rejects(
            decide(&s, &facts(Http, Cb::Mismatch, Some(LISTED))),
            401,
            "service-name-not-in-list",
        );
        // Plain HTTP without Proxy: the configured names are checked, the prefixes are not.
        let s = iis_with_defaults(TokenChecking::Require, "", &[other]);
        rejects(
            decide(&s, &facts(Http, Cb::Unbound, Some(LISTED))),
            401,
            "service-name-not-in-list",
        );
        // Without <spn> entries and without Proxy, plain HTTP still checks nothing (§6.2).
        let s = iis_with_defaults(TokenChecking::Require, "", &[]);
        accepts(
            decide(&s, &facts(Http, Cb::Unbound, Some(UNLISTED))),
            "no-service-name-check-without-proxy",
            Some(UNLISTED),
        );
    }

    #[test]
    fn proxy_without_names_refuses_every_spn() {
        let s = iis(TokenChecking::Require, "Proxy", &[]);
        rejects(
            decide(&s, &facts(Http, Cb::Match, Some(LISTED))),
            401,
            "service-name-not-in-list",
        );
    }

    #[test]
    fn tls_binding_not_checked_fails_closed() {
        for tc in [TokenChecking::Allow, TokenChecking::Require] {
            rejects(
                decide(
                    &iis(tc, "", &[]),
                    &facts(Https, Cb::NotChecked, Some(LISTED)),
                ),
                401,
                "binding-not-checked",
            );
        }
    }

    #[test]
    fn http_sys_flags_need_the_iis_profile() {
        let policy = IisExtendedProtection {
            token_checking: TokenChecking::Allow,
            flags: IisFlags::parse("Proxy, ProxyCohosting").unwrap(),
            spns: vec![LISTED.into()],
        }
        .to_policy()
        .unwrap();
        assert!(matches!(
            ServerPolicy::new(
                policy,
                &ServiceNameCollection::default(),
                Profile::Documented
            ),
            Err(PolicyError::HttpSysFlagsNeedIisProfile { .. })
        ));
    }
}

// ---------------------------------------------------------------------------------------------
// SPN case folding is .NET's OrdinalIgnoreCase (#11 item 2): the dotless ı (U+0131) and the
// long ſ (U+017F) upper-case to ASCII `I` / `S` in Unicode, but .NET's ordinal casing keeps them,
// so a name spelled with them is another name. A relay naming `HTTP/wıki.corp.example` (a DNS
// name an attacker may be able to register) must not pass a list holding `wiki`.
// ---------------------------------------------------------------------------------------------
mod ordinal_case {
    use super::*;

    const LIST: &str = "HTTP/wiki.corp.example";

    fn listing(profile: Profile, ps: Ps) -> ServerPolicy {
        let policy = ExtendedProtectionPolicy::with_service_names(Pe::Always, ps, [LIST]).unwrap();
        ServerPolicy::new(policy, &ServiceNameCollection::default(), profile).unwrap()
    }

    #[test]
    fn dotless_i_spn_is_refused_under_always_on_plain_http() {
        let s = listing(Profile::Documented, Ps::TransportSelected);
        let d = decide(&s, &facts(Http, Cb::Absent, Some("HTTP/wıki.corp.example")));
        rejects(d, 401, "service-name-not-in-list");
        // The same name as an IDN A-label normalises to the U-label, and is refused too.
        rejects(
            decide(
                &s,
                &facts(Http, Cb::Absent, Some("HTTP/xn--wki-jua.corp.example")),
            ),
            401,
            "service-name-not-in-list",
        );
        // Control: the ASCII name in another case is the listed name.
        accepts(
            decide(&s, &facts(Http, Cb::Absent, Some("http/WIKI.Corp.Example"))),
            "service-name-matched",
            Some("http/WIKI.Corp.Example"),
        );
    }

    #[test]
    fn turkish_i_and_long_s_never_match_in_any_profile_or_scenario() {
        let profiles = [
            Profile::Documented,
            Profile::DotnetLegacy,
            Profile::Dotnet8,
            Profile::Iis,
        ];
        // ſ in the distinguisher is not touched by IDN mapping: only casing could match it.
        let list_svc = "HTTP/wiki.corp.example/svc";
        for p in profiles {
            for ps in [Ps::TransportSelected, Ps::TrustedProxy] {
                let policy =
                    ExtendedProtectionPolicy::with_service_names(Pe::Always, ps, [LIST, list_svc])
                        .unwrap();
                let s = ServerPolicy::new(policy, &ServiceNameCollection::default(), p).unwrap();
                for spn in [
                    "HTTP/wıki.corp.example",
                    "HTTP/WıKI.CORP.EXAMPLE",
                    "HTTP/xn--wki-jua.corp.example",
                    "HTTP/wiki.corp.example/ſvc",
                    "HTTP/wiki.corp.example/ſVC",
                    "HTTP/wiki.corp.example/\u{212a}",
                ] {
                    rejects(
                        decide(&s, &facts(Http, Cb::Mismatch, Some(spn))),
                        401,
                        "service-name-not-in-list",
                    );
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Exhaustive: no combination panics, and nothing without a verified binding or a matched name
// is accepted under `Always` except by an explicit, named exemption.
// ---------------------------------------------------------------------------------------------
#[test]
fn exhaustive_always_never_accepts_without_a_named_reason() {
    let allowed_accepts = [
        "binding-verified",
        "kerberos-validates-service-name",
        "service-name-matched",
        "local-client",
        "binding-unavailable-fail-open",
        "service-name-check-disabled",
        "no-service-name-check-without-proxy",
    ];
    for p in [
        Profile::Documented,
        Profile::DotnetLegacy,
        Profile::Dotnet8,
        Profile::Iis,
    ] {
        for ps in [Ps::TransportSelected, Ps::TrustedProxy] {
            for custom in [true, false] {
                let s = server(p, Pe::Always, ps, custom);
                for t in [Https, Http] {
                    for mech in [Mechanism::Ntlm, Mechanism::Kerberos, Mechanism::Other] {
                        for cb in [
                            Cb::Match,
                            Cb::Mismatch,
                            Cb::Absent,
                            Cb::Unbound,
                            Cb::NotChecked,
                        ] {
                            for spn in [
                                None,
                                Some(""),
                                Some(LISTED),
                                Some(UNLISTED),
                                Some("http/localhost"),
                            ] {
                                for ep in [true, false] {
                                    let f = RequestFacts {
                                        transport: t,
                                        mechanism: mech,
                                        server_supports_ep: ep,
                                        channel_binding: cb,
                                        client_spn: ClientServiceName::from_option(spn),
                                    };
                                    let d = decide(&s, &f);
                                    if let Decision::Accept { reason, .. } = &d {
                                        assert!(
                                            allowed_accepts.contains(&reason.code()),
                                            "{p:?} {f:?} → {d:?}"
                                        );
                                        // A mismatching binding on a TLS channel we terminate is never accepted.
                                        assert!(
                                            !(t == Https
                                                && ps == Ps::TransportSelected
                                                && cb == Cb::Mismatch),
                                            "{p:?} {f:?} → {d:?}"
                                        );
                                    }
                                    assert!(!d.reason().message().is_empty());
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
