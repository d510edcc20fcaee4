//! The Fideslang data-category keys vendorwall emits, with our own descriptions.
//!
//! Keys are dotted paths and hierarchical: a rule on `user.contact` covers
//! `user.contact.email` ([`covers`]). Fideslang v3.2 names are used. One key is our
//! extension: `user.financial.crypto_wallet` (Fideslang has no category for wallet
//! addresses), placed under its closest Fideslang parent so a rule on `user.financial`
//! covers it.

/// An email address.
pub const EMAIL: &str = "user.contact.email";
/// A telephone number.
pub const PHONE: &str = "user.contact.phone_number";
/// A postal address or part of one.
pub const ADDRESS: &str = "user.contact.address";
/// A postal or ZIP code.
pub const POSTAL_CODE: &str = "user.contact.address.postal_code";
/// Device properties: OS, browser, model, screen, carrier.
pub const DEVICE: &str = "user.device";
/// A hardware, advertising or push identifier of a device.
pub const DEVICE_ID: &str = "user.device.device_id";
/// An IP address.
pub const IP_ADDRESS: &str = "user.device.ip_address";
/// A payment card number or card security code.
pub const CREDIT_CARD: &str = "user.financial.credit_card";
/// A bank account number (IBAN).
pub const BANK_ACCOUNT: &str = "user.financial.bank_account";
/// Extension: a cryptocurrency wallet address.
pub const CRYPTO_WALLET: &str = "user.financial.crypto_wallet";
/// A national identification number (US SSN, India Aadhaar and PAN, UK NINO, …).
pub const NATIONAL_ID: &str = "user.government_id.national_identification_number";
/// A passport number.
pub const PASSPORT: &str = "user.government_id.passport_number";
/// A driving licence number.
pub const DRIVERS_LICENSE: &str = "user.government_id.drivers_license_number";
/// A password, token, API key or other secret that grants access.
pub const CREDENTIALS: &str = "user.authorization.credentials";
/// A location finer than about 500 m (coordinates with three or more decimals).
pub const PRECISE_LOCATION: &str = "user.location.precise";
/// A location coarser than about 500 m (city, region, country, time zone).
pub const COARSE_LOCATION: &str = "user.location.coarse";
/// A person's name.
pub const NAME: &str = "user.name";
/// A date of birth.
pub const DATE_OF_BIRTH: &str = "user.demographic.date_of_birth";
/// Gender or sex.
pub const GENDER: &str = "user.demographic.gender";
/// Age or age range.
pub const AGE_RANGE: &str = "user.demographic.age_range";
/// An identifier of the person: user id, distinct id, alias, device-scoped analytics id.
pub const UNIQUE_ID: &str = "user.unique_id";
/// A username or handle.
pub const USERNAME: &str = "user.account.username";
/// Pages and referrers the person visited.
pub const BROWSING_HISTORY: &str = "user.behavior.browsing_history";
/// A picture of the person (avatar URL).
pub const SELF_IMAGE: &str = "user.content.self_image";

/// One emitted category and what it means here.
#[derive(Debug, Clone, Copy)]
pub struct Category {
    pub key: &'static str,
    pub description: &'static str,
    /// Not in Fideslang: our extension, documented in `docs/DETECTION.md`.
    pub extension: bool,
}

const fn fides(key: &'static str, description: &'static str) -> Category {
    Category {
        key,
        description,
        extension: false,
    }
}

/// Every category the classifier can emit.
pub const CATEGORIES: &[Category] = &[
    fides(EMAIL, "An email address."),
    fides(PHONE, "A telephone number."),
    fides(ADDRESS, "A postal address or part of one."),
    fides(POSTAL_CODE, "A postal or ZIP code."),
    fides(
        DEVICE,
        "Device properties: operating system, browser, model, screen, carrier, user agent.",
    ),
    fides(DEVICE_ID, "A hardware, advertising or push identifier of a device."),
    fides(IP_ADDRESS, "A public IP address."),
    fides(CREDIT_CARD, "A payment card number or card security code."),
    fides(BANK_ACCOUNT, "A bank account number (IBAN)."),
    Category {
        key: CRYPTO_WALLET,
        description: "A cryptocurrency wallet address (Bitcoin, Ethereum).",
        extension: true,
    },
    fides(
        NATIONAL_ID,
        "A national identification number: US SSN, India Aadhaar or PAN, UK NINO.",
    ),
    fides(PASSPORT, "A passport number."),
    fides(DRIVERS_LICENSE, "A driving licence number."),
    fides(
        CREDENTIALS,
        "A password, token, API key, private key or other secret that grants access.",
    ),
    fides(
        PRECISE_LOCATION,
        "A position finer than about 500 m: coordinates with three or more decimals.",
    ),
    fides(
        COARSE_LOCATION,
        "A position coarser than about 500 m: city, region, country, time zone.",
    ),
    fides(NAME, "A person's name, first, last or full."),
    fides(DATE_OF_BIRTH, "A date of birth."),
    fides(GENDER, "Gender or sex."),
    fides(AGE_RANGE, "Age or age range."),
    fides(
        UNIQUE_ID,
        "An identifier of the person: distinct id, user id, alias, anonymous device-scoped id.",
    ),
    fides(USERNAME, "A username or handle."),
    fides(
        BROWSING_HISTORY,
        "Pages and referrers the person visited, page titles and paths.",
    ),
    fides(SELF_IMAGE, "A picture of the person, such as an avatar URL."),
];

/// True when a rule on `parent` applies to data labelled `key`: equal keys, or `parent`
/// is a dot-prefix ancestor (`user.contact` covers `user.contact.email`, `user` covers all).
pub fn covers(parent: &str, key: &str) -> bool {
    key == parent || (key.starts_with(parent) && key.as_bytes().get(parent.len()) == Some(&b'.'))
}

/// The description of an emitted category.
pub fn describe(key: &str) -> Option<&'static str> {
    CATEGORIES.iter().find(|c| c.key == key).map(|c| c.description)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hierarchy() {
        assert!(covers("user.contact", EMAIL));
        assert!(covers(EMAIL, EMAIL));
        assert!(covers("user", CRYPTO_WALLET));
        assert!(covers("user.financial", CRYPTO_WALLET));
        assert!(!covers("user.contact.email", "user.contact"));
        assert!(!covers("user.cont", EMAIL), "whole segments only");
        assert!(!covers(DEVICE_ID, IP_ADDRESS));
    }

    #[test]
    fn every_category_is_described_once() {
        for c in CATEGORIES {
            assert!(c.key.starts_with("user."));
            assert_eq!(CATEGORIES.iter().filter(|d| d.key == c.key).count(), 1, "{}", c.key);
            assert_eq!(describe(c.key), Some(c.description));
        }
    }
}
