"""Permission names (Iroha 1's) and the rules for who may grant what.

Role permissions sit in roles; an account has the union of its roles' permissions. Grantable
permissions pass from one account (the grantor) to another (the grantee) and let the grantee act on
the grantor's account. ``root`` allows everything.

Query permissions come in three scopes: ``my`` (own account), ``domain`` (accounts of the querier's
domain) and ``all``.

Additions to Iroha's list, because a bank admin must manage its own customers and no one else's: the
domain-scoped ``can_create_domain_account``, ``can_create_domain_asset`` and ``can_set_domain_detail``
act only in the creator's own domain (``can_create_account``, ``can_create_asset`` and ``can_set_detail``
keep Iroha's meaning: any domain), like ``can_add_domain_asset_qty`` beside ``can_add_asset_qty``. And
``can_freeze_account`` (the central bank's): freeze and unfreeze any account (compliance, court orders).

``has_permission`` and ``has_grant`` are the one check of who holds what, for execution and queries.
"""

from __future__ import annotations

from node.ledger.records import Account, Role, WorldStateReader, get_grants
from storage import keys

ROOT = "root"

ROLE_PERMISSIONS: frozenset[str] = frozenset(
    {
        ROOT,
        # commands
        "can_create_domain", "can_create_account", "can_create_domain_account", "can_create_asset",
        "can_create_domain_asset", "can_set_domain_detail", "can_freeze_account",
        "can_add_asset_qty", "can_add_domain_asset_qty", "can_subtract_asset_qty",
        "can_subtract_domain_asset_qty", "can_transfer", "can_receive", "can_add_signatory",
        "can_remove_signatory", "can_set_quorum", "can_create_role", "can_append_role",
        "can_detach_role", "can_set_detail", "can_add_peer", "can_remove_peer",
        # grant rights
        "can_grant_can_set_my_quorum", "can_grant_can_add_my_signatory",
        "can_grant_can_remove_my_signatory", "can_grant_can_transfer_my_assets",
        "can_grant_can_set_my_account_detail",
        # queries
        "can_get_my_account", "can_get_domain_accounts", "can_get_all_accounts",
        "can_get_my_signatories", "can_get_domain_signatories", "can_get_all_signatories",
        "can_get_my_acc_ast", "can_get_domain_acc_ast", "can_get_all_acc_ast",
        "can_get_my_acc_detail", "can_get_domain_acc_detail", "can_get_all_acc_detail",
        "can_get_my_acc_txs", "can_get_domain_acc_txs", "can_get_all_acc_txs",
        "can_get_my_acc_ast_txs", "can_get_domain_acc_ast_txs", "can_get_all_acc_ast_txs",
        "can_get_my_txs", "can_get_all_txs", "can_read_assets", "can_get_roles", "can_get_blocks",
        "can_get_peers",
    }
)

GRANTABLE_PERMISSIONS: frozenset[str] = frozenset(
    {
        "can_set_my_quorum",
        "can_add_my_signatory",
        "can_remove_my_signatory",
        "can_transfer_my_assets",
        "can_set_my_account_detail",
    }
)


def grant_right(grantable: str) -> str:
    """The role permission needed to grant ``grantable`` (Iroha: ``can_grant_<name>``)."""
    return f"can_grant_{grantable}"


def query_scopes(base: str) -> tuple[str, str, str]:
    """``"acc_ast"`` -> (my, domain, all) permission names for that query."""
    if base == "accounts":  # Iroha spells the own-account one in the singular
        return "can_get_my_account", "can_get_domain_accounts", "can_get_all_accounts"
    return f"can_get_my_{base}", f"can_get_domain_{base}", f"can_get_all_{base}"


def has_permission(state: WorldStateReader, account: Account | None, permission: str) -> bool:
    """True if one of ``account``'s roles holds ``permission`` (or ``root``); a missing account holds
    nothing. Takes the record, not the id: a transfer already holds both accounts it checks."""
    if account is None:
        return False
    for role_name in account.roles:
        role: Role | None = state.get(keys.role(role_name))  # get_role, inlined: twice per transfer
        if role is not None and (permission in role.permissions or ROOT in role.permissions):
            return True
    return False


def has_grant(state: WorldStateReader, grantee: str, grantor: str, grantable: str) -> bool:
    """True if ``grantor`` granted ``grantable`` over its account to ``grantee``."""
    grants = get_grants(state, grantee, grantor)
    return grants is not None and grantable in grants.permissions


# Roles of the default Bakong-like genesis (see node/ledger/genesis.py).
_CENTRAL_BANK_OWN = (
    {
        "can_create_domain", "can_create_account", "can_create_asset", "can_add_asset_qty",
        "can_subtract_asset_qty", "can_transfer", "can_receive", "can_create_role", "can_append_role",
        "can_detach_role", "can_add_peer", "can_remove_peer", "can_set_detail", "can_add_signatory",
        "can_remove_signatory", "can_set_quorum", "can_get_all_accounts", "can_get_all_signatories",
        "can_get_all_acc_ast", "can_get_all_acc_detail", "can_get_all_acc_txs", "can_get_all_acc_ast_txs",
        "can_get_all_txs", "can_read_assets", "can_get_roles", "can_get_blocks", "can_get_peers",
        "can_grant_can_set_my_quorum", "can_grant_can_add_my_signatory", "can_grant_can_remove_my_signatory",
        "can_grant_can_transfer_my_assets", "can_grant_can_set_my_account_detail", "can_freeze_account",
    }
)
# A member bank's admin acts in its own domain only: every command permission it holds that names a
# domain or an account of another party is a domain-scoped one (docs/ledger.md, "Permissions").
BANK_ADMIN_ROLE = sorted(
    {
        "can_create_domain_account", "can_transfer", "can_receive", "can_add_domain_asset_qty",
        "can_subtract_domain_asset_qty", "can_create_domain_asset", "can_add_signatory", "can_remove_signatory",
        "can_set_quorum", "can_set_domain_detail", "can_get_domain_accounts", "can_get_domain_signatories",
        "can_get_domain_acc_ast", "can_get_domain_acc_detail", "can_get_domain_acc_txs",
        "can_get_domain_acc_ast_txs", "can_get_my_txs", "can_read_assets", "can_get_roles",
        "can_get_peers", "can_grant_can_transfer_my_assets", "can_grant_can_set_my_quorum",
        "can_grant_can_add_my_signatory", "can_grant_can_remove_my_signatory",
    }
)
CUSTOMER_ROLE = sorted(
    {
        "can_transfer", "can_receive", "can_get_my_account", "can_get_my_signatories", "can_get_my_acc_ast",
        "can_get_my_acc_detail", "can_get_my_acc_txs", "can_get_my_acc_ast_txs", "can_get_my_txs",
        "can_read_assets", "can_add_signatory", "can_remove_signatory", "can_set_quorum",
        "can_grant_can_transfer_my_assets", "can_grant_can_set_my_quorum", "can_grant_can_add_my_signatory",
        "can_grant_can_remove_my_signatory", "can_grant_can_set_my_account_detail",
    }
)
# The central bank holds every permission it hands out: Iroha lets an account append a role only when
# it holds all of the role's permissions, and the central bank appoints bank admins.
CENTRAL_BANK_ROLE = sorted(set(_CENTRAL_BANK_OWN) | set(BANK_ADMIN_ROLE) | set(CUSTOMER_ROLE))
