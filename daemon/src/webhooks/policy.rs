//! Which callback URLs a multi-tenant host accepts: with `WAGW_WEBHOOK_ALLOW_PRIVATE=false`,
//! none that name this machine or a private network, so users cannot aim wagw at internal
//! services. Host names are judged as written; one that resolves to a private address is not
//! caught here.

use std::net::IpAddr;

use url::{Host, Url};

/// Whether `url` names loopback, a private or link-local network, or an unspecified address.
pub fn is_private(url: &Url) -> bool {
    match url.host() {
        None => true,
        Some(Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
        Some(Host::Ipv4(ip)) => private_ip(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => private_ip(IpAddr::V6(ip)),
    }
}

fn private_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                // Carrier-grade NAT, 100.64.0.0/10.
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xC0) == 64)
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => private_ip(IpAddr::V4(v4)),
            None => {
                v6.is_loopback()
                    || v6.is_unspecified()
                    || v6.is_unique_local()
                    || v6.is_unicast_link_local()
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn judging_never_panics(url in "https?://\\PC{0,30}") {
            if let Ok(parsed) = Url::parse(&url) {
                let _ = is_private(&parsed);
            }
        }

        /// An IPv4 address written as IPv4-mapped IPv6 is judged the same.
        #[test]
        fn mapped_addresses_agree(octets in proptest::array::uniform4(proptest::num::u8::ANY)) {
            let v4 = std::net::Ipv4Addr::from(octets);
            let plain = Url::parse(&format!("http://{v4}/h")).unwrap();
            let mapped = Url::parse(&format!("http://[{}]/h", v4.to_ipv6_mapped())).unwrap();
            proptest::prop_assert_eq!(is_private(&plain), is_private(&mapped));
        }
    }

    #[test]
    fn private_targets_are_recognised() {
        for private in [
            "http://127.0.0.1/h",
            "http://localhost:8080/h",
            "http://api.localhost/h",
            "http://10.1.2.3/h",
            "http://192.168.0.9/h",
            "http://169.254.169.254/latest",
            "http://100.64.0.1/h",
            "http://[::1]/h",
            "http://[fd00::1]/h",
            "http://[::ffff:127.0.0.1]/h",
            "http://0.0.0.0/h",
        ] {
            assert!(is_private(&Url::parse(private).unwrap()), "{private}");
        }
        for public in [
            "https://example.com/h",
            "http://8.8.8.8/h",
            "http://[2001:db8::1]/h",
        ] {
            assert!(!is_private(&Url::parse(public).unwrap()), "{public}");
        }
    }
}
