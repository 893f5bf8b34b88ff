"""Security of the simulated PLCs: Basic256Sha256 endpoints and a real user check.

asyncua's default user manager accepts any password; this one compares with
the credentials named in the plant file's environment variables, in constant
time, and refuses anonymous sessions unless the file allows them.
"""

from __future__ import annotations

import hmac
import os

from asyncua import Server, ua
from asyncua.server.user_managers import UserManager
from asyncua.crypto.permission_rules import User, UserRole

from factory_app.config import SimSecurity

_MODES = {"Sign": ua.SecurityPolicyType.Basic256Sha256_Sign,
          "SignAndEncrypt": ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt}


class EnvUserManager(UserManager):
    """One operator account whose user name and password come from the environment."""

    def __init__(self, username: str | None, password: str | None, allow_anonymous: bool):
        self._username = username
        self._password = password
        self._allow_anonymous = allow_anonymous

    def get_user(self, iserver, username=None, password=None, certificate=None):
        if username is None:
            return User(role=UserRole.Anonymous) if self._allow_anonymous else None
        if self._username is None or self._password is None or password is None:
            return None
        ok = hmac.compare_digest(username.encode(), self._username.encode()) & \
            hmac.compare_digest(str(password).encode(), self._password.encode())
        return User(role=UserRole.User) if ok else None


def user_manager(sec: SimSecurity) -> EnvUserManager:
    def env(name: str | None) -> str | None:
        if name is None:
            return None
        if name not in os.environ:
            raise RuntimeError(f"environment variable {name} (simulated PLC credentials) is not set")
        return os.environ[name]
    return EnvUserManager(env(sec.username_env), env(sec.password_env), sec.allow_anonymous)


def configure(sec: SimSecurity):
    """An async setup step for ``SimEndpoint``: certificate, policies and identity tokens."""

    async def setup(server: Server) -> None:
        await server.set_application_uri(sec.application_uri)
        await server.load_certificate(str(sec.certificate))
        await server.load_private_key(str(sec.private_key))
        server.set_security_policy([_MODES[m] for m in sec.modes])
        tokens = [ua.UserNameIdentityToken] + ([ua.AnonymousIdentityToken] if sec.allow_anonymous else [])
        server.set_identity_tokens(tokens)
    return setup
