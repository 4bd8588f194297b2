"""Recharge-slot deposits (预定充值名额): a limited number of slots sold online for a small deposit (¥11),
converted at the counter by an in-store recharge of at least the threshold before the deadline.

How it fits together (docs/recharge-slots.md, ADR 0016):

- A slot campaign **is a flash sale** (``Campaign``, kind flash_sale) whose single item is a deposit SKU
  (``setup`` creates the product "充值名额 ¥11", publishes it to the campaign's stores and creates the sale),
  plus a ``RechargeSlotCampaign`` with the deposit, threshold, gift text, deadline and unused policy. Buying
  goes through the flash-sale admission (ADR 0007), so slots never oversell; orders owns the deposit orders.
- The deposit order's ``paid`` hook (``holding``) writes the member's ``RechargeSlot`` (held), once per
  order; a refund of a held slot's order (staff, or the deadline job) marks it refunded; a pickup guard
  refuses to hand a deposit order over except through the conversion.
- ``counter.convert_slot``: the clerk of the slot's store records an in-store recharge ≥ threshold; in one
  transaction the slot goes held → converted (one conditional UPDATE), loyalty's ``stored_value.recharge``
  credits amount + deposit (``source="slot"``, ``source_ref=<slot id>``; the brand's recharge tiers give the
  gift), and the deposit order is closed as picked up through orders' pickup service.
- ``deadline.settle_due`` (job ``recharge-slot-deadlines``): held slots past the deadline are refunded
  (orders' automatic refund) or forfeited, each exactly once.
- ``report.slot_report``: sold, converted, rate, recharge amount, deposits refunded/forfeited, gifts.
"""
