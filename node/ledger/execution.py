"""Applying transactions to the world state: Iroha 1's stateful rules for its 18 commands, and ours.

Scoped admins and freezing (docs/ledger.md, "Permissions" and "Freezing"): a domain-scoped permission
acts only in the creator's own domain; a frozen account can be debited by nobody (transfers out,
grantees' transfers, burns) and can still be credited.

Execution is a pure function of (state view, block time, transactions) -> (write set, results). It
reads and writes only through ``StateView``; it uses the block's timestamp, never the local clock;
nothing here iterates an unordered collection to decide what lands in state. Every node therefore
computes the same results and the same state root for the same block.

World-state rows are read and written as the typed records of ``node.ledger.records`` (balances as
int minor units, details as str); who may do what is ``node.ledger.permissions``' one check.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from node.ledger import commands as c
from node.ledger import errors as e
from node.ledger import ids
from node.ledger.errors import CommandError
from node.ledger.permissions import ROOT, grant_right, has_grant, has_permission
from node.ledger.records import (
    Account,
    Asset,
    Domain,
    Freeze,
    Grants,
    Peer,
    Role,
    get_account,
    get_asset,
    get_detail,
    get_domain,
    get_grants,
    get_peer,
    get_role,
    require_account,
    require_asset,
    require_domain,
    require_role,
)
from node.ledger.state import StateView
from node.ledger.statuses import TxStatus
from node.ledger.transactions import Transaction
from node.ledger.validation import TX_TIME_WINDOW
from storage import keys

# The names importers used before statuses were a type; kept until they import TxStatus.
COMMITTED = TxStatus.COMMITTED
REJECTED = TxStatus.REJECTED


@dataclass(frozen=True)
class TxResult:
    """The outcome of one transaction in a block."""

    status: TxStatus
    """COMMITTED or REJECTED."""
    command_index: int | None = None
    """Index of the failing command; None when the transaction as a whole was refused."""
    error_code: str | None = None
    """Stable code of the failure (see ``node.errors``)."""
    message: str = ""

    def to_array(self) -> list[Any]:
        return [self.status, self.command_index, self.error_code, self.message]

    @classmethod
    def from_array(cls, a: list[Any]) -> TxResult:
        return cls(TxStatus(a[0]), a[1], a[2], a[3])


OK = TxResult(TxStatus.COMMITTED)


def fail(code: str, message: str) -> CommandError:
    return CommandError(code, message)


def payment_keys(txs: Iterable[Transaction]) -> list[bytes]:
    """The world-state rows a block's transfers will read: creators, both accounts and both balances.

    Execution reads rows one at a time as it needs them; listing a block's payment rows first lets the
    ledger fetch those it has not cached in one ascending pass (``CommittedCache.prefetch``). Other
    commands are rare and read as they go."""
    account, balance = keys.account, keys.balance
    wanted: list[bytes] = []
    for tx in txs:
        payload = tx.payload
        creator = payload.creator
        wanted.append(account(creator))
        for cmd in payload.commands:
            if type(cmd) is c.TransferAsset or type(cmd) is c.TransferWithReference:
                src, dest, asset = cmd.src_account_id, cmd.dest_account_id, cmd.asset_id
                if src != creator:  # a payment from one's own account, the usual case: listed already
                    wanted.append(account(src))
                wanted += (account(dest), balance(src, asset), balance(dest, asset))
    return wanted


class Executor:
    """Runs transactions of one block against a ``StateView``."""

    def __init__(self, view: StateView, block_time_ms: int, *, genesis: bool = False, height: int = 0) -> None:
        self.view = view
        self.block_time_ms = block_time_ms
        self.height = height
        """The block's height: a freeze records it."""
        # The transaction time window around the block time, as bounds compared once per transaction.
        self._earliest_ms = block_time_ms - TX_TIME_WINDOW.past_ms
        self._latest_ms = block_time_ms + TX_TIME_WINDOW.future_ms
        # The genesis block sets the network up: no signatures, no permission checks (as in Iroha).
        self.genesis = genesis
        # Set by a peer command that applied (even if its transaction then failed and rolled back):
        # the node re-reads its peer set after such a block instead of scanning every command.
        self.peers_touched = False
        self._handlers: dict[type[c.Command], Callable[[str, Any], None]] = {
            c.CreateDomain: self._create_domain,
            c.CreateAccount: self._create_account,
            c.CreateAsset: self._create_asset,
            c.AddAssetQuantity: self._add_asset_quantity,
            c.SubtractAssetQuantity: self._subtract_asset_quantity,
            c.TransferAsset: self._transfer_asset,
            c.TransferWithReference: self._transfer_asset,  # a transfer: same rules (its md5 is indexed at commit)
            c.AddSignatory: self._add_signatory,
            c.RemoveSignatory: self._remove_signatory,
            c.SetAccountQuorum: self._set_account_quorum,
            c.CreateRole: self._create_role,
            c.AppendRole: self._append_role,
            c.DetachRole: self._detach_role,
            c.GrantPermission: self._grant_permission,
            c.RevokePermission: self._revoke_permission,
            c.SetAccountDetail: self._set_account_detail,
            c.CompareAndSetAccountDetail: self._compare_and_set_account_detail,
            c.AddPeer: self._add_peer,
            c.RemovePeer: self._remove_peer,
            c.FreezeAccount: self._freeze_account,
            c.UnfreezeAccount: self._unfreeze_account,
        }

    # ---- transactions ----

    def apply(self, tx: Transaction) -> TxResult:
        """Apply all of ``tx``'s commands or none of them."""
        try:
            self._check_transaction(tx)
        except CommandError as exc:
            return TxResult(TxStatus.REJECTED, None, exc.code, exc.message)
        creator = tx.payload.creator
        handlers = self._handlers
        for index, command in enumerate(tx.payload.commands):
            try:
                handlers[type(command)](creator, command)
            except CommandError as exc:
                self.view.rollback_tx()
                return TxResult(TxStatus.REJECTED, index, exc.code, exc.message)
        self.view.commit_tx()
        return OK

    def _check_transaction(self, tx: Transaction) -> None:
        if self.genesis:
            return
        created = tx.payload.created_ms
        if not self._earliest_ms <= created <= self._latest_ms:
            violation = TX_TIME_WINDOW.violation(created, self.block_time_ms, "the block time")
            assert violation is not None
            raise fail(*violation)
        account = get_account(self.view, tx.payload.creator)
        if account is None:
            raise fail(e.NO_SUCH_ACCOUNT, f"creator {tx.payload.creator} does not exist")
        # Only the creator's signatories count, each key once; another key's signature is ignored, not
        # fatal. The hash does not cover the signatures, so if a stranger's signature could reject a
        # transaction, whoever saw it first could void it for good (docs/ledger.md, "Signatures").
        signatories = account.signatories
        signatures = tx.signatures
        if len(signatures) == 1:
            signed = 1 if signatures[0][0] in signatories else 0
        else:
            signed = len({public_key for public_key, _sig in signatures if public_key in signatories})
        if signed < account.quorum:
            if not signed:
                raise fail(e.NOT_A_SIGNATORY, "no signature is by a signatory of the creator")
            raise fail(e.QUORUM_NOT_MET, f"{signed} signatures by the creator's signatories, its quorum is "
                                         f"{account.quorum}")

    # ---- permission helpers ----

    def _has(self, account_id: str, permission: str) -> bool:
        # In genesis ``_require`` lets everything through anyway; this only saves the look-ups.
        return self.genesis or has_permission(self.view, get_account(self.view, account_id), permission)

    def _require(self, allowed: bool, what: str) -> None:
        if not allowed and not self.genesis:
            raise fail(e.PERMISSION_DENIED, what)

    def _own_or_granted(self, creator: str, target: str, role_perm: str, grantable: str) -> bool:
        """Iroha's pattern: act on your own account with the role permission, or on another's with its grant."""
        if creator == target:
            return self._has(creator, role_perm)
        return has_grant(self.view, creator, target, grantable) or self._has(creator, ROOT)

    def _account(self, account_id: str) -> Account:
        return require_account(self.view, account_id, CommandError)

    def _units(self, amount: str, asset_id: str) -> int:
        precision = require_asset(self.view, asset_id, CommandError).precision
        units = ids.to_minor_units(amount, precision)
        if units is None:
            raise fail(e.PRECISION_EXCEEDED, f"{amount} has more decimals than {asset_id}'s precision {precision}")
        if units > ids.MAX_UNITS:
            raise fail(e.AMOUNT_OVERFLOW, f"{amount} is larger than any balance can hold")
        return units

    # ---- commands ----

    def _create_domain(self, creator: str, cmd: c.CreateDomain) -> None:
        self._require(self._has(creator, "can_create_domain"), "can_create_domain needed")
        if get_domain(self.view, cmd.domain_id) is not None:
            raise fail(e.DOMAIN_EXISTS, f"domain {cmd.domain_id} exists")
        require_role(self.view, cmd.default_role, CommandError)
        self.view.put(keys.domain(cmd.domain_id), Domain(cmd.default_role))

    def _create_account(self, creator: str, cmd: c.CreateAccount) -> None:
        allowed = self._has(creator, "can_create_account") or (
            ids.account_domain(creator) == cmd.domain_id and self._has(creator, "can_create_domain_account")
        )
        self._require(allowed, f"creating accounts in {cmd.domain_id} is not permitted")
        domain = require_domain(self.view, cmd.domain_id, CommandError)
        if get_account(self.view, cmd.account_id) is not None:
            raise fail(e.ACCOUNT_EXISTS, f"account {cmd.account_id} exists")
        self.view.put(keys.account(cmd.account_id), Account(1, (domain.default_role,), (cmd.public_key,)))

    def _in_own_domain(self, creator: str, domain_id: str, any_perm: str, domain_perm: str) -> bool:
        """The global permission, or its domain-scoped one when ``domain_id`` is the creator's own."""
        return self._has(creator, any_perm) or (
            ids.account_domain(creator) == domain_id and self._has(creator, domain_perm)
        )

    def _create_asset(self, creator: str, cmd: c.CreateAsset) -> None:
        allowed = self._in_own_domain(creator, cmd.domain_id, "can_create_asset", "can_create_domain_asset")
        self._require(allowed, f"creating assets in {cmd.domain_id} is not permitted")
        require_domain(self.view, cmd.domain_id, CommandError)
        if get_asset(self.view, cmd.asset_id) is not None:
            raise fail(e.ASSET_EXISTS, f"asset {cmd.asset_id} exists")
        self.view.put(keys.asset(cmd.asset_id), Asset(cmd.precision))

    def _may_change_supply(self, creator: str, asset_id: str, any_perm: str, domain_perm: str) -> bool:
        return self._has(creator, any_perm) or (
            ids.asset_domain(asset_id) == ids.account_domain(creator) and self._has(creator, domain_perm)
        )

    def _add_asset_quantity(self, creator: str, cmd: c.AddAssetQuantity) -> None:
        allowed = self._may_change_supply(creator, cmd.asset_id, "can_add_asset_qty", "can_add_domain_asset_qty")
        self._require(allowed, f"minting {cmd.asset_id} is not permitted")
        units = self._units(cmd.amount, cmd.asset_id)
        key = keys.balance(creator, cmd.asset_id)
        new = (self.view.get(key) or 0) + units
        if new > ids.MAX_UNITS:
            raise fail(e.AMOUNT_OVERFLOW, "the balance would exceed the maximum")
        self.view.put(key, new)

    def _subtract_asset_quantity(self, creator: str, cmd: c.SubtractAssetQuantity) -> None:
        allowed = self._may_change_supply(
            creator, cmd.asset_id, "can_subtract_asset_qty", "can_subtract_domain_asset_qty"
        )
        self._require(allowed, f"burning {cmd.asset_id} is not permitted")
        self._refuse_if_frozen(creator, self._account(creator))
        units = self._units(cmd.amount, cmd.asset_id)
        key = keys.balance(creator, cmd.asset_id)
        balance = self.view.get(key) or 0
        if balance < units:
            raise fail(e.INSUFFICIENT_FUNDS, f"balance of {cmd.asset_id} is lower than {cmd.amount}")
        self.view.put(key, balance - units)

    def _transfer_asset(self, creator: str, cmd: c.TransferAsset) -> None:
        src, dest = cmd.src_account_id, cmd.dest_account_id
        if src == dest:
            raise fail(e.SELF_TRANSFER, "source and destination are the same account")
        view = self.view
        if creator == src:  # the creator's account exists (checked with the transaction): fetch it once
            src_account = require_account(view, src, CommandError)
            allowed = has_permission(view, src_account, "can_transfer")
        else:
            allowed = has_grant(view, creator, src, "can_transfer_my_assets")
        self._require(allowed, f"{creator} may not transfer from {src}")
        if creator != src:
            src_account = require_account(view, src, CommandError)
        if src_account.frozen is not None:  # nobody debits a frozen account, grantees included
            self._refuse_if_frozen(src, src_account)
        dest_account = require_account(view, dest, CommandError)
        self._require(has_permission(view, dest_account, "can_receive"), f"{dest} may not receive assets")
        units = self._units(cmd.amount, cmd.asset_id)
        src_key = keys.balance(src, cmd.asset_id)
        src_balance = self.view.get(src_key) or 0
        if src_balance < units:
            raise fail(e.INSUFFICIENT_FUNDS, f"balance of {cmd.asset_id} is lower than {cmd.amount}")
        dest_key = keys.balance(dest, cmd.asset_id)
        dest_balance = (self.view.get(dest_key) or 0) + units
        if dest_balance > ids.MAX_UNITS:
            raise fail(e.AMOUNT_OVERFLOW, "the destination balance would exceed the maximum")
        self.view.put(src_key, src_balance - units)
        self.view.put(dest_key, dest_balance)

    def _add_signatory(self, creator: str, cmd: c.AddSignatory) -> None:
        allowed = self._own_or_granted(creator, cmd.account_id, "can_add_signatory", "can_add_my_signatory")
        self._require(allowed, f"adding signatories to {cmd.account_id} is not permitted")
        account = self._account(cmd.account_id)
        if cmd.public_key in account.signatories:
            raise fail(e.SIGNATORY_EXISTS, "the key is already a signatory")
        if len(account.signatories) >= c.MAX_QUORUM:
            raise fail(e.QUORUM_TOO_HIGH, f"an account has at most {c.MAX_QUORUM} signatories")
        signatories = tuple(sorted([*account.signatories, cmd.public_key]))
        self.view.put(keys.account(cmd.account_id), replace(account, signatories=signatories))

    def _remove_signatory(self, creator: str, cmd: c.RemoveSignatory) -> None:
        allowed = self._own_or_granted(creator, cmd.account_id, "can_remove_signatory", "can_remove_my_signatory")
        self._require(allowed, f"removing signatories of {cmd.account_id} is not permitted")
        account = self._account(cmd.account_id)
        if cmd.public_key not in account.signatories:
            raise fail(e.NO_SUCH_SIGNATORY, "the key is not a signatory")
        remaining = tuple(k for k in account.signatories if k != cmd.public_key)
        if not remaining:
            raise fail(e.LAST_SIGNATORY, "an account keeps at least one signatory")
        if len(remaining) < account.quorum:
            raise fail(e.QUORUM_TOO_HIGH, "fewer signatories than the account's quorum would remain")
        self.view.put(keys.account(cmd.account_id), replace(account, signatories=remaining))

    def _set_account_quorum(self, creator: str, cmd: c.SetAccountQuorum) -> None:
        allowed = self._own_or_granted(creator, cmd.account_id, "can_set_quorum", "can_set_my_quorum")
        self._require(allowed, f"setting the quorum of {cmd.account_id} is not permitted")
        account = self._account(cmd.account_id)
        if cmd.quorum > len(account.signatories):
            raise fail(e.QUORUM_TOO_HIGH, f"quorum {cmd.quorum} exceeds {len(account.signatories)} signatories")
        self.view.put(keys.account(cmd.account_id), replace(account, quorum=cmd.quorum))

    def _has_all(self, account_id: str, permissions: Iterable[str]) -> bool:
        return all(self._has(account_id, p) for p in permissions)

    def _create_role(self, creator: str, cmd: c.CreateRole) -> None:
        self._require(self._has(creator, "can_create_role"), "can_create_role needed")
        # Iroha's rule: nobody hands out a permission they do not hold themselves.
        self._require(self._has_all(creator, cmd.permissions), "a role may only hold permissions its creator has")
        if get_role(self.view, cmd.role_name) is not None:
            raise fail(e.ROLE_EXISTS, f"role {cmd.role_name} exists")
        self.view.put(keys.role(cmd.role_name), Role(frozenset(cmd.permissions)))

    def _append_role(self, creator: str, cmd: c.AppendRole) -> None:
        self._require(self._has(creator, "can_append_role"), "can_append_role needed")
        account = self._account(cmd.account_id)
        role = require_role(self.view, cmd.role_name, CommandError)
        self._require(self._has_all(creator, sorted(role.permissions)),
                      "a role may only be appended by an account holding its permissions")
        if cmd.role_name in account.roles:
            raise fail(e.ROLE_ALREADY_HELD, f"{cmd.account_id} already has role {cmd.role_name}")
        roles = tuple(sorted([*account.roles, cmd.role_name]))
        self.view.put(keys.account(cmd.account_id), replace(account, roles=roles))

    def _detach_role(self, creator: str, cmd: c.DetachRole) -> None:
        self._require(self._has(creator, "can_detach_role"), "can_detach_role needed")
        account = self._account(cmd.account_id)
        require_role(self.view, cmd.role_name, CommandError)
        if cmd.role_name not in account.roles:
            raise fail(e.ROLE_NOT_HELD, f"{cmd.account_id} does not have role {cmd.role_name}")
        roles = tuple(r for r in account.roles if r != cmd.role_name)
        self.view.put(keys.account(cmd.account_id), replace(account, roles=roles))

    def _grant_permission(self, creator: str, cmd: c.GrantPermission) -> None:
        self._require(self._has(creator, grant_right(cmd.permission)), f"{grant_right(cmd.permission)} needed")
        self._account(cmd.account_id)
        grants = get_grants(self.view, cmd.account_id, creator)
        granted = frozenset() if grants is None else grants.permissions
        if cmd.permission in granted:
            raise fail(e.PERMISSION_ALREADY_GRANTED, f"{cmd.permission} is already granted to {cmd.account_id}")
        self.view.put(keys.grant(cmd.account_id, creator), Grants(granted | {cmd.permission}))

    def _revoke_permission(self, creator: str, cmd: c.RevokePermission) -> None:
        # Taking back what one gave needs no right: an account whose roles were changed (or that is
        # frozen) can still withdraw a grantee's power over it. Only the grantor's own row is touched.
        grants = get_grants(self.view, cmd.account_id, creator)
        if grants is None or cmd.permission not in grants.permissions:
            raise fail(e.PERMISSION_NOT_GRANTED, f"{cmd.permission} was not granted to {cmd.account_id}")
        remaining = grants.permissions - {cmd.permission}
        key = keys.grant(cmd.account_id, creator)
        if remaining:
            self.view.put(key, Grants(remaining))
        else:
            self.view.delete(key)

    def _may_set_detail(self, creator: str, account_id: str) -> bool:
        return (
            creator == account_id
            or self._in_own_domain(creator, ids.account_domain(account_id), "can_set_detail", "can_set_domain_detail")
            or has_grant(self.view, creator, account_id, "can_set_my_account_detail")
        )

    def _put_detail(self, account_id: str, writer: str, key: str, value: str) -> None:
        """Write a detail within the writer's quota on that account: at most ``MAX_DETAILS_PER_WRITER``
        rows and ``MAX_DETAIL_BYTES_PER_WRITER`` bytes, so nobody grows an account's details (and the
        answers listing them) without bound. Scans that writer's rows only, at most the quota."""
        count, size = 1, len(key) + len(value.encode())
        for row_key, old in self.view.scan(keys.detail(account_id, writer, "")):  # that writer's rows
            old_key = row_key.rsplit(keys.SEP, 1)[1].decode()
            if old_key != key:  # an overwrite replaces its old row
                count += 1
                size += len(old_key) + len(old.encode())
        if count > c.MAX_DETAILS_PER_WRITER:
            raise fail(e.DETAIL_QUOTA_EXCEEDED, f"{writer} keeps {c.MAX_DETAILS_PER_WRITER} details on {account_id}")
        if size > c.MAX_DETAIL_BYTES_PER_WRITER:
            raise fail(e.DETAIL_QUOTA_EXCEEDED,
                       f"{writer}'s details on {account_id} would exceed {c.MAX_DETAIL_BYTES_PER_WRITER} bytes")
        self.view.put(keys.detail(account_id, writer, key), value)

    def _set_account_detail(self, creator: str, cmd: c.SetAccountDetail) -> None:
        allowed = self._may_set_detail(creator, cmd.account_id)
        self._require(allowed, f"setting details of {cmd.account_id} is not permitted")
        self._account(cmd.account_id)
        self._put_detail(cmd.account_id, creator, cmd.key, cmd.value)

    def _compare_and_set_account_detail(self, creator: str, cmd: c.CompareAndSetAccountDetail) -> None:
        allowed = self._may_set_detail(creator, cmd.account_id)
        self._require(allowed, f"setting details of {cmd.account_id} is not permitted")
        self._account(cmd.account_id)
        if get_detail(self.view, cmd.account_id, creator, cmd.key) != cmd.old_value:
            raise fail(e.DETAIL_MISMATCH, f"detail {cmd.key} does not hold the expected value")
        self._put_detail(cmd.account_id, creator, cmd.key, cmd.value)

    def _add_peer(self, creator: str, cmd: c.AddPeer) -> None:
        self._require(self._has(creator, "can_add_peer"), "can_add_peer needed")
        if get_peer(self.view, cmd.public_key) is not None:
            raise fail(e.PEER_EXISTS, "a peer with this key exists")
        self.view.put(keys.peer(cmd.public_key), Peer(cmd.public_key, cmd.address, cmd.name, cmd.syncing))
        self.peers_touched = True

    def _remove_peer(self, creator: str, cmd: c.RemovePeer) -> None:
        self._require(self._has(creator, "can_remove_peer"), "can_remove_peer needed")
        peer = get_peer(self.view, cmd.public_key)
        if peer is None:
            raise fail(e.NO_SUCH_PEER, "no peer has this key")
        if not peer.syncing:
            validators = sum(1 for _k, p in self.view.scan(keys.PEER) if not p.syncing)
            if validators <= 1:
                raise fail(e.LAST_VALIDATOR, "the last validator cannot be removed")
        self.view.delete(keys.peer(cmd.public_key))
        self.peers_touched = True

    # ---- freezing (ours; the central bank's) ----

    def _refuse_if_frozen(self, account_id: str, account: Account) -> None:
        if account.frozen is not None:
            raise fail(e.ACCOUNT_FROZEN, f"{account_id} is frozen since block {account.frozen.height}")

    def _freeze_account(self, creator: str, cmd: c.FreezeAccount) -> None:
        self._require(self._has(creator, "can_freeze_account"), "can_freeze_account needed")
        account = self._account(cmd.account_id)
        if account.frozen is not None:
            raise fail(e.ACCOUNT_FROZEN, f"{cmd.account_id} is already frozen")
        freeze = Freeze(self.height, creator, cmd.reason)
        self.view.put(keys.account(cmd.account_id), replace(account, frozen=freeze))

    def _unfreeze_account(self, creator: str, cmd: c.UnfreezeAccount) -> None:
        self._require(self._has(creator, "can_freeze_account"), "can_freeze_account needed")
        account = self._account(cmd.account_id)
        if account.frozen is None:
            raise fail(e.ACCOUNT_NOT_FROZEN, f"{cmd.account_id} is not frozen")
        self.view.put(keys.account(cmd.account_id), replace(account, frozen=None))
