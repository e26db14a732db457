"""The claims the test provider puts in ID tokens beside `sub`."""

from typing import Any

from oauth2_provider.oauth2_validators import OAuth2Validator


class Validator(OAuth2Validator):
    def get_additional_claims(self, request: Any) -> dict[str, Any]:
        return {"preferred_username": request.user.username, "email": request.user.email}
