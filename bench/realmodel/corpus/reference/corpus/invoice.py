from generated.corpus.money import format_cents, parse_cents

__all__ = ["invoice_total"]


def invoice_total(lines):
    total = 0
    for _description, price, quantity in lines:
        if quantity < 0:
            raise ValueError("negative quantity")
        total += parse_cents(price) * quantity
    return format_cents(total)
