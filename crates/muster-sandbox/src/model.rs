//! AWS's patterns and limits as the sandbox checks them, copied from the service models
//! (`shared/aws-reference/models`, botocore's `service-2.json`), not from muster: a wrong
//! pattern in muster must not pass here too.

/// Detective's `GraphArn`:
/// `^arn:aws[-\w]{0,10}?:detective:[-\w]{2,20}?:\d{12}?:graph:[abcdef\d]{32}?$`.
pub const GRAPH_ARN_PATTERN: &str =
    r"^arn:aws[-\w]{0,10}?:detective:[-\w]{2,20}?:\d{12}?:graph:[abcdef\d]{32}?$";

/// Detective's `EmailAddress` as the model spells it (what error messages quote).
pub const EMAIL_PATTERN_SHOWN: &str =
    r"^.+@(?:(?:(?!-)[A-Za-z0-9-]{1,62})?[A-Za-z0-9]{1}\.)+[A-Za-z]{2,63}$";

/// `EMAIL_PATTERN_SHOWN` for the `regex` crate, which has no look-ahead: the label that must
/// not start with `-` is spelled out. The same language.
pub const EMAIL_PATTERN: &str =
    r"^.+@(?:(?:[A-Za-z0-9][A-Za-z0-9-]{0,61})?[A-Za-z0-9]{1}\.)+[A-Za-z]{2,63}$";

/// The model's `AccountId` (Detective, Security Hub, Organizations): 12 characters of
/// `^[0-9]+$`.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// A region name such as `us-east-1` or `us-gov-west-1`: lowercase words, then a number.
pub fn is_region_name(s: &str) -> bool {
    let Some((words, number)) = s.rsplit_once('-') else {
        return false;
    };
    let words: Vec<&str> = words.split('-').collect();
    words.len() >= 2
        && (words.iter()).all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
        && !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
}

/// A deterministic 64-bit FNV-1a hash, used for ids that must be the same on every run.
pub fn stable_hash(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain(std::iter::once(0xff)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_patterns_accept_and_refuse_as_the_models_do() {
        let email = regex::Regex::new(EMAIL_PATTERN).unwrap();
        for ok in ["a@example.com", "a.b+c@sub.example.co.uk", "x@a-b.io"] {
            assert!(email.is_match(ok), "{ok}");
        }
        for bad in ["a@-b.com", "a@example", "@example.com", "a@example.c"] {
            assert!(!email.is_match(bad), "{bad}");
        }
        let arn = regex::Regex::new(GRAPH_ARN_PATTERN).unwrap();
        assert!(arn.is_match(
            "arn:aws:detective:us-east-1:222222222222:graph:0123456789abcdef0123456789abcdef"
        ));
        assert!(!arn.is_match("arn:aws:detective:us-east-1:2222:graph:0123"));
        assert!(is_account_id("012345678901") && !is_account_id("12345678901"));
        assert!(
            is_region_name("us-gov-west-1")
                && !is_region_name("mars")
                && !is_region_name("us-east-")
        );
    }
}
