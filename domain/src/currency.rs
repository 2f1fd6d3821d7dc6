//! ISO 4217 currencies a Partner may price a sale in.
//!
//! The active codes of ISO 4217's list one (as published by SIX, 2025), without the
//! funds, precious metals, SDR and testing codes (BOV, CHE, CHW, CLF, COU, MXV, USN, UYI,
//! UYW, XAG, XAU, XBA–XBD, XDR, XPD, XPT, XSU, XTS, XUA, XXX): nobody sells to a customer
//! in those. Codes withdrawn while still in hand (ANG beside its successor XCG, SLL beside
//! SLE, ZWL beside ZWG) stay accepted. Stored opportunities are never re-checked: a code
//! dropped here later still reads back.

/// Sorted, so membership is a binary search.
const CODES: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BGN", "BHD", "BIF",
    "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHF", "CLP", "CNY", "COP", "CRC",
    "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS",
    "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD",
    "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL",
    "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MYR", "MZN", "NAD",
    "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD",
    "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SLL", "SOS", "SRD", "SSP", "STN", "SVC",
    "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU", "UZS",
    "VED", "VES", "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG", "ZWL",
];

/// Whether `code` is one of the currencies above, exactly as ISO 4217 writes it (capitals).
pub fn is_iso4217(code: &str) -> bool {
    CODES.binary_search(&code).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_sorted_and_unique_so_the_search_finds_every_code() {
        assert!(CODES.windows(2).all(|w| w[0] < w[1]));
        assert!(CODES.iter().all(|c| is_iso4217(c)));
    }

    #[test]
    fn partners_currencies_are_accepted_and_anything_else_is_not() {
        for code in ["IDR", "USD", "EUR", "SGD", "MYR", "JPY"] {
            assert!(is_iso4217(code), "{code}");
        }
        for code in ["idr", "Idr", "XXX", "XAU", "ABC", "US", "USDT", "", "I D"] {
            assert!(!is_iso4217(code), "{code}");
        }
    }
}
