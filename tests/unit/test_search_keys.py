from core import search


def test_order_numbers_match_with_or_without_hash():
    assert search.norm_number("#1001") == search.norm_number("1001") == "1001"


def test_text_is_lower_cased_and_single_spaced():
    assert search.norm_text("  Ada   LOVELACE ") == "ada lovelace"
    assert search.norm_text("   ") is None


def test_last_name_only_for_names_with_several_parts():
    assert search.last_name("Ada Lovelace") == "lovelace"
    assert search.last_name("Cher") is None


def test_phone_keys_let_a_local_number_find_an_international_one():
    stored = search.phone_key("+1 (415) 555-1234")
    typed = search.phone_key("555 1234")
    assert stored.startswith(typed)
    assert search.phone_key("no digits") is None


def test_the_prefix_bound_sorts_after_every_continuation():
    bound = search.prefix_upper_bound("ada")
    assert "ada" < "ada lovelace" < bound and "adb" > bound
