"""Which currency a database's amounts are in: the ISO 4217 codes Funnelcast accepts, the sign
each is written with (a symbol where one is unambiguous, else the code), its decimals, and the
check of a code a user gives (`parse`).

The currency is a setting of the database (its meta row `currency`, USD when unset), read with
the rest of its context; nothing here reads a database.
"""

from __future__ import annotations

from dataclasses import dataclass

# The active ISO 4217 currency codes (funds and precious metals left out).
CODES = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP
    BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP
    GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR
    KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK
    MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR
    SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS
    UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG
    """.split()
)
# Offered first where a currency is chosen from a list.
COMMON = ("USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "SEK", "NOK", "DKK", "INR", "BRL")
# Symbols that name one currency (as English writes them); the others are written with the code
# after the amount (kr would be SEK, NOK or DKK; CHF is written as its code anyway).
SYMBOLS = {
    "USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹", "BRL": "R$", "CAD": "CA$",
    "AUD": "A$", "NZD": "NZ$", "HKD": "HK$", "MXN": "MX$", "CNY": "CN¥", "KRW": "₩",
    "ILS": "₪", "TWD": "NT$", "VND": "₫", "PHP": "₱",
}  # fmt: skip
# Decimals of an exact amount, where they are not two.
DIGITS = {
    **dict.fromkeys("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF".split(), 0),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
}
DEFAULT_CODE = "USD"


def problem(text: str) -> str:
    """Return why a text is refused as a currency, in one line naming it and the allowed form."""
    return f"unknown currency {text!r}: give a three-letter ISO 4217 code such as USD, EUR or GBP"


@dataclass(frozen=True)
class Currency:
    """A currency by its ISO 4217 code, and how its amounts are written."""

    code: str = DEFAULT_CODE

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(problem(self.code))

    @property
    def symbol(self) -> str | None:
        """Return the currency's symbol (€), or None when it is written with its code."""
        return SYMBOLS.get(self.code)

    @property
    def sign(self) -> str:
        """Return what marks an amount: the symbol, else the code."""
        return self.symbol or self.code

    @property
    def prefix(self) -> str:
        """Return what goes before an amount: the symbol, or nothing."""
        return self.symbol or ""

    @property
    def suffix(self) -> str:
        """Return what goes after an amount: nothing, or a space and the code."""
        return "" if self.symbol else f" {self.code}"

    @property
    def digits(self) -> int:
        """Return the decimals of an exact amount (2; 0 for yen, 3 for dinars)."""
        return DIGITS.get(self.code, 2)

    @property
    def label(self) -> str:
        """Return the currency as a list of choices shows it: EUR (€), or PLN."""
        return f"{self.code} ({self.symbol})" if self.symbol else self.code

    def around(self, number: str) -> str:
        """Return a written number marked as an amount: €400.2k, or 400.2k PLN."""
        return f"{self.prefix}{number}{self.suffix}"

    def unit(self, label: str) -> str:
        """Return a heading of amounts with its unit: Spend (€)."""
        return f"{label} ({self.sign})"


USD = Currency(DEFAULT_CODE)


def parse(text: str) -> Currency:
    """Return the currency a code names (any case, spaces around ignored); ValueError with
    problem(text) when it names none."""
    code = text.strip().upper()
    if code not in CODES:
        raise ValueError(problem(text))
    return Currency(code)


def choices() -> list[str]:
    """Return every accepted code, the common ones first, then the rest in order."""
    return [*COMMON, *sorted(CODES - set(COMMON))]
