//! Phone numbers and JIDs: the one normalizer every recipient and sender goes through.

/// Why a recipient was refused; the text tells the caller what a valid one looks like.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{input}' is not a valid {what}: {hint}")]
pub struct JidError {
    pub input: String,
    what: &'static str,
    hint: &'static str,
}

const PHONE_HINT: &str = "use the number with its country code and no leading 0, e.g. 628123456789 \
    or +62 812-3456-789, or a full JID such as 628123456789@s.whatsapp.net";
const GROUP_HINT: &str = "use a group id such as 120363123456789012@g.us (with is_group: true)";

pub const USER_SERVER: &str = "s.whatsapp.net";
pub const GROUP_SERVER: &str = "g.us";
pub const LID_SERVER: &str = "lid";

fn bad(input: &str, what: &'static str, hint: &'static str) -> JidError {
    JidError {
        input: input.to_string(),
        what,
        hint,
    }
}

/// Normalizes a phone number: digits with an optional `+`, spaces, dashes, dots and parentheses.
/// Returns the digits (7 to 15 of them, E.164, not starting with 0).
pub fn normalize_phone(input: &str) -> Result<String, JidError> {
    let trimmed = input.trim();
    let body = trimmed.strip_prefix('+').unwrap_or(trimmed);
    if body.is_empty()
        || !body
            .chars()
            .all(|c| c.is_ascii_digit() || " -.()".contains(c))
    {
        return Err(bad(input, "phone number", PHONE_HINT));
    }
    let digits: String = body.chars().filter(char::is_ascii_digit).collect();
    if !(7..=15).contains(&digits.len()) || digits.starts_with('0') {
        return Err(bad(input, "phone number", PHONE_HINT));
    }
    Ok(digits)
}

fn is_group_id(id: &str) -> bool {
    // Current ids are long digit strings; legacy ones are `creator-timestamp`.
    let parts: Vec<&str> = id.split('-').collect();
    match parts.as_slice() {
        [one] => (10..=30).contains(&one.len()) && one.chars().all(|c| c.is_ascii_digit()),
        [creator, stamp] => [creator, stamp]
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 20 && p.chars().all(|c| c.is_ascii_digit())),
        _ => false,
    }
}

/// Normalizes a message recipient into a JID: a phone number or user JID, a `@lid` JID, or with
/// `is_group` (or an explicit `@g.us`) a group.
pub fn normalize_recipient(input: &str, is_group: bool) -> Result<String, JidError> {
    let trimmed = input.trim();
    if let Some((user, server)) = trimmed.split_once('@') {
        return match server {
            GROUP_SERVER if is_group_id(user) => Ok(format!("{user}@{GROUP_SERVER}")),
            GROUP_SERVER => Err(bad(input, "group id", GROUP_HINT)),
            _ if is_group => Err(bad(input, "group id", GROUP_HINT)),
            USER_SERVER | "c.us" => Ok(format!("{}@{USER_SERVER}", normalize_phone(user)?)),
            LID_SERVER
                if !user.is_empty()
                    && user.len() <= 20
                    && user.chars().all(|c| c.is_ascii_digit()) =>
            {
                Ok(format!("{user}@{LID_SERVER}"))
            }
            _ => Err(bad(input, "recipient", PHONE_HINT)),
        };
    }
    if is_group {
        return if is_group_id(trimmed) {
            Ok(format!("{trimmed}@{GROUP_SERVER}"))
        } else {
            Err(bad(input, "group id", GROUP_HINT))
        };
    }
    Ok(format!("{}@{USER_SERVER}", normalize_phone(trimmed)?))
}

/// The user part of a JID (the phone number for `@s.whatsapp.net`).
pub fn user_part(jid: &str) -> &str {
    jid.split_once('@').map_or(jid, |(user, _)| user)
}

pub fn is_group_jid(jid: &str) -> bool {
    jid.ends_with("@g.us")
}

pub fn phone_jid(phone: &str) -> String {
    format!("{phone}@{USER_SERVER}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_the_documented_forms() {
        let want = "628123456789@s.whatsapp.net";
        for input in [
            "628123456789",
            "+62 812-3456-789",
            "+62 (812) 3456.789",
            want,
            "628123456789@c.us",
        ] {
            assert_eq!(normalize_recipient(input, false).unwrap(), want, "{input}");
        }
        assert_eq!(
            normalize_recipient("120363123456789012@g.us", true).unwrap(),
            "120363123456789012@g.us"
        );
        assert_eq!(
            normalize_recipient("120363123456789012", true).unwrap(),
            "120363123456789012@g.us"
        );
        assert_eq!(
            normalize_recipient("120363123456789012@g.us", false).unwrap(),
            "120363123456789012@g.us"
        );
        assert_eq!(
            normalize_recipient("6281234-1596371234", true).unwrap(),
            "6281234-1596371234@g.us"
        );
        assert_eq!(
            normalize_recipient("123456789012345@lid", false).unwrap(),
            "123456789012345@lid"
        );
    }

    #[test]
    fn rejects_with_a_hint() {
        for (input, group) in [
            ("", false),
            ("08123456789", false),
            ("12345", false),
            ("1234567890123456", false),
            ("62812abc", false),
            ("john@example.com", false),
            ("628123456789@s.whatsapp.net", true),
            ("hello", true),
            ("abc@g.us", false),
            ("++628123", false),
        ] {
            let err = normalize_recipient(input, group).unwrap_err();
            assert!(
                err.to_string().contains("e.g.") || err.to_string().contains("such as"),
                "{err}"
            );
        }
    }

    proptest! {
        #[test]
        fn any_valid_number_round_trips(digits in "[1-9][0-9]{6,14}") {
            let jid = normalize_recipient(&digits, false).unwrap();
            prop_assert_eq!(user_part(&jid), digits.as_str());
            // Normalizing a normalized JID changes nothing.
            prop_assert_eq!(normalize_recipient(&jid, false).unwrap(), jid.clone());
            let spaced = format!("+{} {}", &digits[..3], &digits[3..]);
            prop_assert_eq!(normalize_recipient(&spaced, false).unwrap(), jid);
        }

        #[test]
        fn phones_are_digits_only_and_normalize_once(input in "[+]?[0-9 ().-]{0,24}|\\PC{0,24}") {
            if let Ok(digits) = normalize_phone(&input) {
                prop_assert!((7..=15).contains(&digits.len()), "{}", digits);
                prop_assert!(digits.chars().all(|c| c.is_ascii_digit()));
                prop_assert!(!digits.starts_with('0'));
                prop_assert_eq!(normalize_phone(&digits), Ok(digits.clone()));
            }
        }

        #[test]
        fn separators_anywhere_do_not_change_the_number(
            digits in "[1-9][0-9]{6,14}",
            separators in proptest::collection::vec("[ ().-]{0,2}", 15),
        ) {
            let written: String = digits
                .chars()
                .zip(separators.iter())
                .flat_map(|(d, sep)| std::iter::once(d).chain(sep.chars()))
                .collect();
            prop_assert_eq!(normalize_phone(&format!("+{written}")), Ok(digits.clone()));
        }

        #[test]
        fn recipients_normalize_idempotently(input in "\\PC{0,40}|[0-9+ -]{0,20}@(s.whatsapp.net|c.us|g.us|lid)", group in any::<bool>()) {
            if let Ok(jid) = normalize_recipient(&input, group) {
                prop_assert_eq!(normalize_recipient(&jid, group), Ok(jid.clone()));
                prop_assert_eq!(is_group_jid(&jid), jid.ends_with("@g.us"));
            }
        }

        #[test]
        fn group_ids_round_trip(id in "[0-9]{10,30}|[0-9]{1,20}-[0-9]{1,20}") {
            let jid = normalize_recipient(&id, true).unwrap();
            prop_assert_eq!(user_part(&jid), id.as_str());
            prop_assert!(is_group_jid(&jid));
        }

        #[test]
        fn never_panics_and_output_is_well_formed(input in ".{0,40}", group in any::<bool>()) {
            if let Ok(jid) = normalize_recipient(&input, group) {
                let (user, server) = jid.split_once('@').unwrap();
                prop_assert!(["s.whatsapp.net", "g.us", "lid"].contains(&server));
                prop_assert!(user.chars().all(|c| c.is_ascii_digit() || c == '-'));
            }
        }
    }
}
