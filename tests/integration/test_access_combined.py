"""Authentication and authorization together: the ACL sees what was proven
(the principal), and EMQX's is_superuser skips authorization."""

import pytest

from helpers import VERSIONS, V5

pytestmark = pytest.mark.revmq_only

NO_DELAY = "mqtt.authn_failure_delay = 0s\n"


def broker(broker_factory, tmp_path, rules):
    users = tmp_path / "users.csv"
    users.write_text("user_id,password,is_superuser\nops,ops-pw,true\nbob,bob-pw,false\n")
    acl = tmp_path / "acl.conf"
    acl.write_text(rules)
    conf = (NO_DELAY +
            "authentication = [{ mechanism = password_based, backend = built_in_database, "
            f'bootstrap_file = "{users}", bootstrap_type = plain }}]\n'
            f'authorization {{ no_match = deny, sources = [{{ type = file, path = "{acl}" }}] }}\n')
    return broker_factory(conf)


@VERSIONS
def test_superuser_skips_authorization_and_others_are_checked(broker_factory, tmp_path,
                                                             raw_client, version, uid):
    b = broker(broker_factory, tmp_path, '{allow, {username, "bob"}, subscribe, ["bob/#"]}.\n')
    denied = 0x87 if version == V5 else 0x80
    ops = raw_client(b, version)
    ops.connect(f"ops-{uid}", username="ops", password=b"ops-pw")
    ops.subscribe(("secret/#", 1), ("bob/x", 1), expect_codes=[1, 1])
    bob = raw_client(b, version)
    bob.connect(f"bob-{uid}", username="bob", password=b"bob-pw")
    bob.subscribe(("secret/#", 1), ("bob/x", 1), expect_codes=[denied, 1])


@VERSIONS
def test_acl_username_is_the_proven_one(broker_factory, tmp_path, raw_client, version, uid):
    """A rule for bob applies to a client that proved to be bob, and a client that
    only claims bob without the password never gets in to use it."""
    b = broker(broker_factory, tmp_path, '{allow, {username, "bob"}, subscribe, ["bob/#"]}.\n')
    bob = raw_client(b, version)
    bob.connect(f"bob-{uid}", username="bob", password=b"bob-pw")
    bob.subscribe(("bob/y", 0), expect_codes=[0])
    liar = raw_client(b, version)
    liar.connect(f"liar-{uid}", username="bob", password=b"guess",
                 expect_rc=0x86 if version == V5 else 4)
