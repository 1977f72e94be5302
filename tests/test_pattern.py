"""The view-pattern grammar: presets, canonical formatting, and errors that name the bad part."""

import pytest

from locomt.pattern import PatternError, canonical, resolve_pattern, view_names

VAT = ("v", "a", "t")


def test_view_names_follow_declared_order():
    assert view_names("va") == ("s", "va")
    assert view_names(VAT) == ("s", "va", "vt", "at")
    assert view_names("tav") == ("s", "ta", "tv", "av")


@pytest.mark.parametrize(
    "text, codes, heads, layers, expected",
    [
        ("8s+4va", "va", 12, 4, "8s+4va"),
        ("4va+8s", "va", 12, 4, "8s+4va"),
        ("12s/12s/6s+6va/12va", "va", 12, 4, "12s/12s/6s+6va/12va"),
        ("6s+6va/6s+6va", "va", 12, 2, "6s+6va"),
        ("0s+12va", "va", 12, 1, "12va"),
        ("all-self", VAT, 12, 4, "12s"),
        ("all-cross", VAT, 12, 4, "4va+4vt+4at"),
        ("all-cross", VAT, 8, 1, "3va+3vt+2at"),
        ("half", VAT, 12, 4, "6s+2va+2vt+2at"),
        ("half", "va", 12, 4, "6s+6va"),
        ("alternate", "va", 12, 4, "12s/12va/12s/12va"),
        ("bottom-self", "va", 12, 4, "12s/12s/6s+6va/6s+6va"),
        ("bottom-self", "va", 4, 3, "4s/2s+2va/2s+2va"),
    ],
)
def test_resolve_and_canonical(text, codes, heads, layers, expected):
    p = resolve_pattern(text, codes, heads, layers)
    assert str(p) == expected
    assert len(p.layers) == layers
    assert all(sum(layer) == heads for layer in p.layers)
    # the canonical string is a fixed point
    assert canonical(expected, codes, heads, layers) == expected


def test_random_preset_is_seeded_and_covers_views():
    a = resolve_pattern("random:7", VAT, 12, 4)
    assert a == resolve_pattern("random:7", VAT, 12, 4)
    assert a != resolve_pattern("random:8", VAT, 12, 4)
    assert all(sum(layer) == 12 for layer in a.layers)
    many = [resolve_pattern(f"random:{s}", VAT, 12, 4) for s in range(20)]
    used = {v for p in many for i in range(4) for v, _ in p.layer_views(i)}
    assert used == set(view_names(VAT))
    assert canonical(str(a), VAT, 12, 4) == str(a)


def test_head_views_grouped_in_canonical_order():
    p = resolve_pattern("2at+1s+1va", VAT, 4, 1)
    assert p.head_views(0) == ["s", "va", "at", "at"]


@pytest.mark.parametrize(
    "text, codes, needle",
    [
        ("8s+4av", "va", "'av'"),  # pair out of declared order
        ("8s+4vt", "va", "'t'"),  # modality the dataset lacks
        ("8s+3va", "va", "sum to 11, expected the head count 12"),
        ("8x+4va", "va", "'x'"),
        ("12s/12s", "va", "gives 2 layer specs, expected 1"),
        ("fancy", "va", "unknown preset 'fancy'"),
        ("random:abc", "va", "random:0"),
        ("8s+4va+0va", "va", "appears twice"),
        ("8s++4va", "va", "bad term ''"),
        ("s8", "va", "bad term 's8'"),
        ("", "va", "empty layer spec"),
        ("12s/12s/12q/12s", "va", "fusion layer 2"),
    ],
)
def test_errors_name_the_bad_part(text, codes, needle):
    with pytest.raises(PatternError) as err:
        resolve_pattern(text, codes, 12, 4)
    msg = str(err.value)
    assert needle in msg
    assert "\n" not in msg
