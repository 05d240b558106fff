"""Exact decimal money values in ISO 4217 currencies.

`Money` is an immutable, hashable amount of one currency, stored as a
`decimal.Decimal` quantized to the currency's minor units. Arithmetic between
different currencies raises `CurrencyMismatchError`; floats are rejected
everywhere; `allocate` splits an amount into parts that sum exactly to it.
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from types import MappingProxyType
from typing import Mapping

__all__ = ["CURRENCIES", "CurrencyMismatchError", "Money", "minor_units"]

CURRENCIES: Mapping[str, int] = MappingProxyType(
    {
        "USD": 2,
        "EUR": 2,
        "GBP": 2,
        "JPY": 0,
        "CHF": 2,
        "KWD": 3,
        "BHD": 3,
        "CAD": 2,
        "SEK": 2,
    }
)

_CODE_RE = re.compile(r"[A-Z]{3}")
_AMOUNT_RE = re.compile(r"-?[0-9]+(?:\.([0-9]+))?")
_PRECISION = 60


def _context() -> decimal.Context:
    """Return a private decimal context: high precision, exact, trapping errors."""
    ctx = decimal.Context(prec=_PRECISION, rounding=ROUND_HALF_EVEN)
    ctx.traps[decimal.InvalidOperation] = True
    return ctx


def _validate_currency(currency: object) -> str:
    """Return `currency` if it is a known ISO 4217 code, else raise."""
    if not isinstance(currency, str):
        raise TypeError(f"currency must be a str, not {type(currency).__name__}")
    if _CODE_RE.fullmatch(currency) is None or not currency.isascii():
        raise ValueError(f"invalid currency code: {currency!r}")
    if currency not in CURRENCIES:
        raise ValueError(f"unknown currency code: {currency!r}")
    return currency


def minor_units(currency: str) -> int:
    """Return the number of decimal digits of `currency`'s minor unit.

    Raises:
        TypeError: if `currency` is not a str.
        ValueError: if `currency` is malformed or not in `CURRENCIES`.
    """
    return CURRENCIES[_validate_currency(currency)]


def _quantize(amount: Decimal, currency: str) -> Decimal:
    """Quantize `amount` to `currency`'s minor units (half-even), no negative zero."""
    with decimal.localcontext(_context()):
        result = amount.quantize(Decimal(1).scaleb(-CURRENCIES[currency]), rounding=ROUND_HALF_EVEN)
        if result.is_zero():
            result = result.copy_abs()
    return result


class CurrencyMismatchError(ValueError):
    """Raised when an operation combines Money values of different currencies."""


def _check_factor(factor: object) -> Decimal:
    """Return `factor` as a Decimal if it is an int (not bool) or finite Decimal."""
    if isinstance(factor, bool):
        raise TypeError("cannot multiply Money by bool")
    if isinstance(factor, int):
        return Decimal(factor)
    if isinstance(factor, Decimal):
        if not factor.is_finite():
            raise TypeError("cannot multiply Money by a non-finite Decimal")
        return factor
    raise TypeError(f"cannot multiply Money by {type(factor).__name__}")


class Money:
    """An immutable amount of money in one ISO 4217 currency.

    Attributes:
        amount: the amount, a Decimal quantized to the currency's minor units.
        currency: the three-letter currency code.
    """

    __slots__ = ("amount", "currency")

    amount: Decimal
    currency: str

    def __init__(self, amount: Decimal | int, currency: str) -> None:
        """Create a Money value, quantizing `amount` with ROUND_HALF_EVEN.

        Args:
            amount: an int (not bool) or a finite Decimal.
            currency: a code from `CURRENCIES`.

        Raises:
            TypeError: if `amount` is not an int or Decimal (floats included), or
                `currency` is not a str.
            ValueError: if `amount` is not finite or `currency` is invalid/unknown.
        """
        code = _validate_currency(currency)
        if isinstance(amount, bool) or not isinstance(amount, (int, Decimal)):
            raise TypeError(
                f"amount must be an int or Decimal, not {type(amount).__name__}"
            )
        value = Decimal(amount)
        if not value.is_finite():
            raise ValueError(f"amount is not finite: {amount!r}")
        object.__setattr__(self, "currency", code)
        object.__setattr__(self, "amount", _quantize(value, code))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Money is immutable; cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Money is immutable; cannot delete {name!r}")

    # -- alternative constructors ------------------------------------------

    @classmethod
    def parse(cls, text: str, currency: str) -> Money:
        """Parse `text` strictly as an amount of `currency`.

        The text must fully match `-?[0-9]+(\\.[0-9]+)?` (ASCII digits only) with
        at most `minor_units(currency)` decimal places.

        Raises:
            TypeError: if `text` or `currency` is not a str.
            ValueError: if `currency` is invalid or `text` does not match, with the
                message ``invalid amount for EUR: '1,000.00'``.
        """
        code = _validate_currency(currency)
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, not {type(text).__name__}")
        match = _AMOUNT_RE.fullmatch(text)
        if match is None or not text.isascii():
            raise ValueError(f"invalid amount for {code}: {text!r}")
        fraction = match.group(1)
        if fraction is not None and len(fraction) > CURRENCIES[code]:
            raise ValueError(f"invalid amount for {code}: {text!r}")
        return cls(Decimal(text), code)

    @classmethod
    def zero(cls, currency: str) -> Money:
        """Return zero in `currency`."""
        return cls(0, currency)

    @classmethod
    def from_minor_units(cls, units: int, currency: str) -> Money:
        """Return the Money worth `units` minor units of `currency`.

        Raises:
            TypeError: if `units` is not an int (bool is rejected).
            ValueError: if `currency` is invalid or unknown.
        """
        code = _validate_currency(currency)
        if isinstance(units, bool) or not isinstance(units, int):
            raise TypeError(f"units must be an int, not {type(units).__name__}")
        with decimal.localcontext(_context()):
            value = Decimal(units).scaleb(-CURRENCIES[code])
        return cls(value, code)

    def to_minor_units(self) -> int:
        """Return the amount as an integer number of minor units."""
        with decimal.localcontext(_context()):
            return int(self.amount.scaleb(CURRENCIES[self.currency]))

    # -- arithmetic ----------------------------------------------------------

    def _same_currency(self, other: Money) -> None:
        if self.currency != other.currency:
            raise CurrencyMismatchError(
                f"currency mismatch: {self.currency} vs {other.currency}"
            )

    def __add__(self, other: object) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        with decimal.localcontext(_context()):
            total = self.amount + other.amount
        return Money(total, self.currency)

    def __sub__(self, other: object) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        with decimal.localcontext(_context()):
            difference = self.amount - other.amount
        return Money(difference, self.currency)

    def __neg__(self) -> Money:
        with decimal.localcontext(_context()):
            return Money(-self.amount, self.currency)

    def __pos__(self) -> Money:
        return Money(self.amount, self.currency)

    def __abs__(self) -> Money:
        with decimal.localcontext(_context()):
            return Money(abs(self.amount), self.currency)

    def __mul__(self, factor: object) -> Money:
        if isinstance(factor, Money):
            return NotImplemented
        if isinstance(factor, float):
            return NotImplemented
        k = _check_factor(factor)
        with decimal.localcontext(_context()):
            product = self.amount * k
        return Money(product, self.currency)

    def __rmul__(self, factor: object) -> Money:
        return self.__mul__(factor)

    # -- comparison ----------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        if self.currency != other.currency:
            return False
        with decimal.localcontext(_context()):
            return self.amount == other.amount

    def __hash__(self) -> int:
        return hash((self.amount, self.currency))

    def _compare(self, other: object) -> int | None:
        if not isinstance(other, Money):
            return None
        self._same_currency(other)
        with decimal.localcontext(_context()):
            if self.amount < other.amount:
                return -1
            if self.amount > other.amount:
                return 1
            return 0

    def __lt__(self, other: object) -> bool:
        result = self._compare(other)
        return NotImplemented if result is None else result < 0

    def __le__(self, other: object) -> bool:
        result = self._compare(other)
        return NotImplemented if result is None else result <= 0

    def __gt__(self, other: object) -> bool:
        result = self._compare(other)
        return NotImplemented if result is None else result > 0

    def __ge__(self, other: object) -> bool:
        result = self._compare(other)
        return NotImplemented if result is None else result >= 0

    def __bool__(self) -> bool:
        return not self.amount.is_zero()

    # -- allocation ----------------------------------------------------------

    def allocate(self, ratios: Sequence[int | Decimal]) -> list[Money]:
        """Split this amount into parts proportional to `ratios`.

        Uses the largest-remainder method on integer minor units, so the parts
        sum exactly to this amount; ties in remainder go to the lower index.

        Raises:
            TypeError: if a ratio is not an int or Decimal (floats and bools too).
            ValueError: if `ratios` is empty, a ratio is negative or non-finite,
                or all ratios are zero.
        """
        weights = _check_ratios(ratios)
        total_weight = sum(weights, Fraction(0))
        if total_weight == 0:
            raise ValueError("ratios must not all be zero")
        units = self.to_minor_units()
        total = abs(units)
        shares = [total * w / total_weight for w in weights]
        floors = [share.numerator // share.denominator for share in shares]
        leftover = total - sum(floors)
        order = sorted(range(len(shares)), key=lambda i: (-(shares[i] - floors[i]), i))
        for index in order[:leftover]:
            floors[index] += 1
        sign = -1 if units < 0 else 1
        return [Money.from_minor_units(sign * part, self.currency) for part in floors]

    # -- text ----------------------------------------------------------------

    def __str__(self) -> str:
        return f"{format(self.amount, 'f')} {self.currency}"

    def __repr__(self) -> str:
        return f"Money(Decimal({format(self.amount, 'f')!r}), {self.currency!r})"


def _check_ratios(ratios: Sequence[int | Decimal]) -> list[Fraction]:
    """Validate allocation ratios and return them as exact Fractions."""
    if len(ratios) == 0:
        raise ValueError("ratios must not be empty")
    weights: list[Fraction] = []
    for ratio in ratios:
        if isinstance(ratio, bool) or not isinstance(ratio, (int, Decimal)):
            raise TypeError(f"ratio must be an int or Decimal, not {type(ratio).__name__}")
        if isinstance(ratio, Decimal) and not ratio.is_finite():
            raise ValueError(f"ratio is not finite: {ratio!r}")
        if ratio < 0:
            raise ValueError(f"ratio must not be negative: {ratio!r}")
        weights.append(Fraction(ratio))
    return weights
