import calc


def test_the_package_imports() -> None:
    assert calc.__doc__
