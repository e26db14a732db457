"""Set the test provider up: `python -m oidcprovider.manage client ID SECRET REDIRECT` and
`python -m oidcprovider.manage person USERNAME PASSWORD EMAIL` (after `migrate`)."""

import sys

import django


def main(argv: list[str]) -> None:
    django.setup()
    from django.contrib.auth import get_user_model
    from oauth2_provider.models import Application

    what, *args = argv
    if what == "client":
        client_id, secret, redirect = args
        Application.objects.create(
            name="joinedup inbox",
            client_id=client_id,
            client_secret=secret,
            client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
            redirect_uris=redirect,
            algorithm=Application.RS256_ALGORITHM,
            skip_authorization=True,
        )
    elif what == "person":
        username, password, email = args
        get_user_model().objects.create_user(username, email, password)
    elif what == "rename":
        old, new = args
        get_user_model().objects.filter(username=old).update(username=new)
    else:
        raise SystemExit(f"unknown: {what}")


if __name__ == "__main__":
    main(sys.argv[1:])
