"""Autopays in AutopayTable: the adapter enrolment, the schedule and the charger use. It only reads and
writes; every change is conditioned on the state it leaves, and a lost condition raises StateChanged.

A period's decision and the attempt it shows are one TransactWrite, so a redelivered message can neither
record an outcome twice nor leave an attempt without its period's state.
"""

import contextlib
import secrets
from collections.abc import Iterator, Sequence
from datetime import date, timedelta
from typing import Any

from tolov.autopay.repository import (
    ACTIVE,
    CLOSED,
    INACTIVE,
    OPEN,
    PAID,
    PENDING,
    REFUSED,
    Attempt,
    Autopay,
    Deactivation,
    Due,
    Outcome,
    PeriodCharge,
)
from tolov.billing.errors import StateChanged, TransactionExists
from tolov.store.autopay_models import (
    ACTIVE_SK,
    AUTOPAY_SK,
    AutopayActiveKey,
    AutopayAttemptRecord,
    AutopayRecord,
)
from tolov.store.autopay_models import AutopayPeriodRecord as PeriodRow
from tolov.store.engine import Action, Condition, ConditionFailed, TxOp, conditional, transact

ATTEMPT_PREFIX = "attempt#"


def active_key(apartment_id: str, provider: str) -> str:
    return f"active#{apartment_id}#{provider}"  # autopay ids never start with "active#"


def period_sk(period: str) -> str:
    return f"period#{period}"


def attempt_sk(at: int, tag: str) -> str:
    return f"{ATTEMPT_PREFIX}{at:013d}#{tag}"


def due_key(due_date: str, autopay_id: str) -> str:
    return f"{due_date}#{autopay_id}"


def _autopay(row: AutopayRecord) -> Autopay:
    return Autopay(
        autopay_id=row.autopay_id,
        apartment_id=row.apartment_id,
        provider=row.provider,
        card_number=row.card_number,
        card_expire=row.card_expire,
        sealed_token=bytes(row.card_token),
        day_of_month=int(row.day_of_month),
        max_amount=int(row.max_amount),
        status=row.status,
        created_at=int(row.created_at),
        inactive_reason=row.inactive_reason,
        due_date=row.due_key[:10] if row.due_key else None,
        due_period=row.due_period,
        card_removed_at=None if row.card_removed_at is None else int(row.card_removed_at),
        pending_event=row.pending_event,
    )


def _period(row: PeriodRow) -> PeriodCharge:
    due = Due(row.next_due, row.next_period) if row.next_due and row.next_period else None
    return PeriodCharge(
        autopay_id=row.autopay_id,
        period=row.period,
        status=row.status,
        receipt_id=row.receipt_id,
        receipt_at=None if row.receipt_at is None else int(row.receipt_at),
        amount=None if row.amount is None else int(row.amount),
        phase=row.phase,
        declines=int(row.declines or 0),
        decided_run=row.decided_run,
        next_due=due,
        lease_owner=row.lease_owner,
        lease_until=None if row.lease_until is None else int(row.lease_until),
    )


def _attempt(row: AutopayAttemptRecord) -> Attempt:
    return Attempt(
        period=row.period,
        receipt_id=row.receipt_id,
        amount=int(row.amount),
        outcome=Outcome(row.outcome),
        error_code=None if row.error_code is None else int(row.error_code),
        at=int(row.at),
    )


def _update(item: Any, actions: Sequence[Action], condition: Condition | None) -> TxOp:
    return lambda t: t.update(item, actions=list(actions), condition=condition)


def _next_due_actions(next_due: Due | None) -> list[Action]:
    if next_due is None:
        return [PeriodRow.next_due.remove(), PeriodRow.next_period.remove()]
    return [PeriodRow.next_due.set(next_due.date), PeriodRow.next_period.set(next_due.period)]


def _closes(charge: PeriodCharge, next_due: Due | None) -> bool:
    return next_due is None or next_due.period != charge.period


def _holds(charge: PeriodCharge) -> Condition:
    holds: Condition = (PeriodRow.status == OPEN) & (PeriodRow.receipt_id == (charge.receipt_id or ""))
    return holds


class DynamoAutopayStore:
    # ------------------------------------------------------------------ autopays
    def create(self, autopay: Autopay, shard: str) -> None:
        key = AutopayActiveKey(
            active_key(autopay.apartment_id, autopay.provider), autopay_id=autopay.autopay_id
        )
        row = AutopayRecord(
            autopay.autopay_id,
            AUTOPAY_SK,
            apartment_id=autopay.apartment_id,
            provider=autopay.provider,
            card_number=autopay.card_number,
            card_expire=autopay.card_expire,
            card_token=autopay.sealed_token,
            day_of_month=autopay.day_of_month,
            max_amount=autopay.max_amount,
            status=ACTIVE,
            created_at=autopay.created_at,
            updated_at=autopay.created_at,
            due_shard=shard,
            due_key=due_key(autopay.due_date or "", autopay.autopay_id),
            due_period=autopay.due_period,
        )
        ops: list[TxOp] = [
            lambda t: t.save(key, condition=AutopayActiveKey.key.does_not_exist()),
            lambda t: t.save(row, condition=AutopayRecord.autopay_id.does_not_exist()),
        ]
        failed = transact(ops)
        if failed is None:
            return
        if 0 in failed:
            holder = self.active_holder(autopay.apartment_id, autopay.provider)
            if holder is not None:
                raise TransactionExists(holder)
        raise StateChanged(autopay.autopay_id)

    def get(self, autopay_id: str) -> Autopay | None:
        try:
            return _autopay(AutopayRecord.get(autopay_id, AUTOPAY_SK, consistent_read=True))
        except AutopayRecord.DoesNotExist:
            return None

    def active_holder(self, apartment_id: str, provider: str) -> str | None:
        try:
            key = AutopayActiveKey.get(active_key(apartment_id, provider), ACTIVE_SK, consistent_read=True)
        except AutopayActiveKey.DoesNotExist:
            return None
        return key.autopay_id

    def of_apartment(self, apartment_id: str) -> list[Autopay]:
        rows = AutopayRecord.by_apartment.query(apartment_id, scan_index_forward=False)
        return [_autopay(row) for row in rows]

    def attempts(self, autopay_id: str, limit: int) -> list[Attempt]:
        rows = AutopayAttemptRecord.query(
            autopay_id,
            AutopayAttemptRecord.sk.startswith(ATTEMPT_PREFIX),
            scan_index_forward=False,
            limit=limit,
            consistent_read=True,
        )
        return [_attempt(row) for row in rows]

    def _deactivation_ops(self, autopay_id: str, deactivation: Deactivation, now: int) -> list[TxOp]:
        autopay = self.get(autopay_id)
        if autopay is None or not autopay.active:
            raise StateChanged(autopay_id)
        actions: list[Action] = [
            AutopayRecord.status.set(INACTIVE),
            AutopayRecord.inactive_reason.set(deactivation.reason),
            AutopayRecord.updated_at.set(now),
            AutopayRecord.due_shard.remove(),
            AutopayRecord.due_key.remove(),
            AutopayRecord.due_period.remove(),
        ]
        if deactivation.event is not None:
            actions.append(AutopayRecord.pending_event.set(deactivation.event))
        row = AutopayRecord(autopay_id, AUTOPAY_SK)
        key = AutopayActiveKey(active_key(autopay.apartment_id, autopay.provider))
        held_by_it = AutopayActiveKey.autopay_id == autopay_id
        return [
            _update(row, actions, AutopayRecord.status == ACTIVE),
            lambda t: t.delete(key, condition=held_by_it),
        ]

    def deactivate(self, autopay_id: str, deactivation: Deactivation, now: int) -> None:
        if transact(self._deactivation_ops(autopay_id, deactivation, now)) is not None:
            raise StateChanged(autopay_id)

    def card_removed(self, autopay_id: str, now: int) -> None:
        row = AutopayRecord(autopay_id, AUTOPAY_SK)
        conditional(lambda: row.update(actions=[AutopayRecord.card_removed_at.set(now)]))

    def advance(self, autopay_id: str, period: str, due: Due, shard: str) -> bool:
        row = AutopayRecord(autopay_id, AUTOPAY_SK)
        new_key = due_key(due.date, autopay_id)
        condition = (
            (AutopayRecord.status == ACTIVE)
            & (AutopayRecord.due_period == period)
            & (AutopayRecord.due_key < new_key)  # forward only: a late redelivery never moves it back
        )
        actions: list[Action] = [
            AutopayRecord.due_shard.set(shard),
            AutopayRecord.due_key.set(new_key),
            AutopayRecord.due_period.set(due.period),
        ]
        try:
            conditional(lambda: row.update(actions=actions, condition=condition))
        except ConditionFailed:
            return False
        return True

    def due(self, shard: str, run_date: str) -> Iterator[tuple[str, str]]:
        # "YYYY-MM-DD#id" sorts before the next day's date: one range of one partition per shard.
        next_day = (date.fromisoformat(run_date) + timedelta(days=1)).isoformat()
        rows = AutopayRecord.by_due.query(shard, AutopayRecord.due_key < next_day, page_size=1000)
        for row in rows:
            if row.due_period:
                yield row.autopay_id, row.due_period

    # ------------------------------------------------------------------ periods
    def period(self, autopay_id: str, period: str) -> PeriodCharge | None:
        try:
            return _period(PeriodRow.get(autopay_id, period_sk(period), consistent_read=True))
        except PeriodRow.DoesNotExist:
            return None

    def take_lease(self, autopay_id: str, period: str, owner: str, now: int, until: int) -> PeriodCharge:
        row = PeriodRow(autopay_id, period_sk(period))
        free = (
            PeriodRow.lease_until.does_not_exist()
            | (PeriodRow.lease_until < now)
            | (PeriodRow.lease_owner == owner)
        )
        actions: list[Action] = [
            PeriodRow.period.set(PeriodRow.period | period),  # if_not_exists: the first lease opens it
            PeriodRow.status.set(PeriodRow.status | OPEN),
            PeriodRow.declines.set(PeriodRow.declines | 0),
            PeriodRow.updated_at.set(now),
            PeriodRow.lease_owner.set(owner),
            PeriodRow.lease_until.set(until),
        ]
        condition = PeriodRow.sk.does_not_exist() | ((PeriodRow.status == OPEN) & free)
        try:
            conditional(lambda: row.update(actions=actions, condition=condition))
        except ConditionFailed:
            raise StateChanged(autopay_id) from None
        return _period(row)  # update() read the item back as it now is

    def release_lease(self, autopay_id: str, period: str, owner: str) -> None:
        row = PeriodRow(autopay_id, period_sk(period))
        actions: list[Action] = [PeriodRow.lease_owner.remove(), PeriodRow.lease_until.remove()]
        # ConditionFailed: expired and taken by another charger, or released already.
        with contextlib.suppress(ConditionFailed):
            conditional(lambda: row.update(actions=actions, condition=PeriodRow.lease_owner == owner))

    def attach_receipt(self, autopay_id: str, period: str, receipt_id: str, amount: int, at: int) -> None:
        row = PeriodRow(autopay_id, period_sk(period))
        actions: list[Action] = [
            PeriodRow.receipt_id.set(receipt_id),
            PeriodRow.receipt_at.set(at),
            PeriodRow.amount.set(amount),
            PeriodRow.phase.set(PENDING),
            PeriodRow.updated_at.set(at),
        ]
        free = (PeriodRow.status == OPEN) & PeriodRow.receipt_id.does_not_exist()
        attempt = AutopayAttemptRecord(
            autopay_id,
            attempt_sk(at, receipt_id),
            period=period,
            receipt_id=receipt_id,
            amount=amount,
            outcome=Outcome.IN_FLIGHT.value,
            at=at,
        )
        ops: list[TxOp] = [
            _update(row, actions, free),
            lambda t: t.save(attempt, condition=AutopayAttemptRecord.sk.does_not_exist()),
        ]
        if transact(ops) is not None:
            stored = self.period(autopay_id, period)
            if stored is not None and stored.receipt_id == receipt_id:
                return  # our own write, resent by botocore after its reply was lost
            raise StateChanged(autopay_id)

    def _attempt_op(self, charge: PeriodCharge, actions: list[Action]) -> TxOp:
        if charge.receipt_id is None or charge.receipt_at is None:
            raise ValueError("the period holds no receipt")
        attempt = AutopayAttemptRecord(charge.autopay_id, attempt_sk(charge.receipt_at, charge.receipt_id))
        return _update(attempt, actions, AutopayAttemptRecord.sk.exists())

    def note(
        self,
        charge: PeriodCharge,
        outcome: Outcome,
        error_code: int | None,
        now: int,
        *,
        refused: bool = False,
    ) -> None:
        actions: list[Action] = [
            AutopayAttemptRecord.outcome.set(outcome.value),
            AutopayAttemptRecord.at.set(now),
            AutopayAttemptRecord.error_code.remove()
            if error_code is None
            else AutopayAttemptRecord.error_code.set(error_code),
        ]
        # Only while the period still holds this receipt undecided: a note never overwrites an outcome.
        period = PeriodRow(charge.autopay_id, period_sk(charge.period))
        pending = _holds(charge) & (PeriodRow.phase == PENDING)
        ops = [
            _update(period, [PeriodRow.phase.set(REFUSED)], pending)
            if refused
            else lambda t: t.condition_check(PeriodRow, period.autopay_id, period.sk, condition=pending),
            self._attempt_op(charge, actions),
        ]
        if transact(ops) is not None:
            raise StateChanged(charge.autopay_id)

    def paid(self, charge: PeriodCharge, amount: int, next_due: Due, now: int) -> None:
        period = PeriodRow(charge.autopay_id, period_sk(charge.period))
        ops = [
            _update(
                period,
                [PeriodRow.status.set(PAID), PeriodRow.updated_at.set(now), *_next_due_actions(next_due)],
                # Also a period given up on: a receipt recorded declined that Payme reports paid is paid.
                (PeriodRow.receipt_id == (charge.receipt_id or "")) & (PeriodRow.status != PAID),
            ),
            self._attempt_op(
                charge,
                [
                    AutopayAttemptRecord.outcome.set(Outcome.PAID.value),
                    AutopayAttemptRecord.amount.set(amount),
                    AutopayAttemptRecord.error_code.remove(),
                    AutopayAttemptRecord.at.set(now),
                ],
            ),
        ]
        if transact(ops) is not None:
            raise StateChanged(charge.autopay_id)

    def declined(
        self,
        charge: PeriodCharge,
        error_code: int | None,
        run_date: str,
        *,
        next_due: Due | None,
        now: int,
        deactivation: Deactivation | None = None,
    ) -> None:
        period = PeriodRow(charge.autopay_id, period_sk(charge.period))
        actions: list[Action] = [
            PeriodRow.phase.set(REFUSED),
            PeriodRow.declines.set(charge.declines + 1),
            PeriodRow.decided_run.set(run_date),
            PeriodRow.updated_at.set(now),
            *_next_due_actions(next_due),
        ]
        if _closes(charge, next_due):
            actions.append(PeriodRow.status.set(CLOSED))
        attempt_actions: list[Action] = [
            AutopayAttemptRecord.outcome.set(Outcome.DECLINED.value),
            AutopayAttemptRecord.at.set(now),
            AutopayAttemptRecord.error_code.remove()
            if error_code is None
            else AutopayAttemptRecord.error_code.set(error_code),
        ]
        ops: list[TxOp] = [
            _update(period, actions, _holds(charge) & (PeriodRow.phase == PENDING)),
            self._attempt_op(charge, attempt_actions),
        ]
        if deactivation is not None:
            ops.extend(self._deactivation_ops(charge.autopay_id, deactivation, now))
        if transact(ops) is not None:
            raise StateChanged(charge.autopay_id)

    def clear_receipt(self, charge: PeriodCharge) -> None:
        row = PeriodRow(charge.autopay_id, period_sk(charge.period))
        actions: list[Action] = [
            PeriodRow.receipt_id.remove(),
            PeriodRow.receipt_at.remove(),
            PeriodRow.amount.remove(),
            PeriodRow.phase.remove(),
        ]
        condition = PeriodRow.receipt_id == (charge.receipt_id or "")
        try:
            conditional(lambda: row.update(actions=actions, condition=condition))
        except ConditionFailed:
            raise StateChanged(charge.autopay_id) from None

    def skipped(self, charge: PeriodCharge, amount: int, run_date: str, next_due: Due, now: int) -> None:
        period = PeriodRow(charge.autopay_id, period_sk(charge.period))
        actions: list[Action] = [
            PeriodRow.decided_run.set(run_date),
            PeriodRow.updated_at.set(now),
            *_next_due_actions(next_due),
        ]
        if _closes(charge, next_due):
            actions.append(PeriodRow.status.set(CLOSED))
        undecided = (
            (PeriodRow.status == OPEN)
            & PeriodRow.receipt_id.does_not_exist()
            & (PeriodRow.decided_run.does_not_exist() | (PeriodRow.decided_run < run_date))
        )
        ops: list[TxOp] = [_update(period, actions, undecided)]
        if amount > 0:
            attempt = AutopayAttemptRecord(
                charge.autopay_id,
                attempt_sk(now, f"skipped-{run_date}"),
                period=charge.period,
                amount=amount,
                outcome=Outcome.SKIPPED.value,
                at=now,
            )
            ops.append(lambda t: t.save(attempt))
        if transact(ops) is not None:
            raise StateChanged(charge.autopay_id)

    def failed(self, autopay_id: str, period: str, amount: int, error_code: int | None, now: int) -> None:
        attempt = AutopayAttemptRecord(
            autopay_id,
            attempt_sk(now, secrets.token_hex(4)),
            period=period,
            amount=amount,
            outcome=Outcome.FAILED.value,
            error_code=error_code,
            at=now,
        )
        attempt.save()
