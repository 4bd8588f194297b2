"""WeCom callback signature and encryption (the scheme of WeCom's ``WXBizMsgCrypt``), see docs/channels.md.

- ``msg_signature = sha1("".join(sorted([token, timestamp, nonce, encrypt])))`` (hex);
- ``key = b64decode(EncodingAESKey + "=")`` (32 bytes), ``iv = key[:16]``, AES-256-CBC;
- plaintext = 16 random bytes + uint32 big-endian ``len(msg)`` + msg + receiveid (the CorpID);
- padding PKCS#7 with a block size of **32** (1..32 bytes of the pad value).

Errors carry WeCom's own codes (-40001 signature … -40011) so logs read like the official sample's.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
import time
from dataclasses import dataclass
from xml.etree import ElementTree as ET

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK_SIZE = 32

ERR_SIGNATURE = -40001
ERR_PARSE_XML = -40002
ERR_COMPUTE_SIGNATURE = -40003
ERR_AES_KEY = -40004
ERR_RECEIVE_ID = -40005
ERR_ENCRYPT = -40006
ERR_DECRYPT = -40007
ERR_BUFFER = -40008
ERR_BASE64_ENCODE = -40009
ERR_BASE64_DECODE = -40010
ERR_GEN_XML = -40011


class WeComCryptoError(Exception):
    """A callback failed a check. ``code`` is WeCom's error code for it."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


def decode_aes_key(aes_key: str) -> bytes:
    """The 32-byte AES key encoded by a 43-character EncodingAESKey; raises WeComCryptoError(-40004)."""
    if len(aes_key or "") != 43:
        raise WeComCryptoError(ERR_AES_KEY, "EncodingAESKey must be 43 characters")
    try:
        key = base64.b64decode(aes_key + "=", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise WeComCryptoError(ERR_AES_KEY, "EncodingAESKey is not base64") from exc
    if len(key) != 32:
        raise WeComCryptoError(ERR_AES_KEY, "EncodingAESKey must decode to 32 bytes")
    return key


def signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    """WeCom's msg_signature: sha1 over the lexicographically sorted, concatenated four strings."""
    try:
        joined = "".join(sorted([token, timestamp, nonce, encrypt]))
        return hashlib.sha1(joined.encode("utf-8")).hexdigest()  # noqa: S324 - the protocol mandates sha1
    except (TypeError, UnicodeError) as exc:
        raise WeComCryptoError(ERR_COMPUTE_SIGNATURE, "cannot compute signature") from exc


def _pkcs7_pad(data: bytes) -> bytes:
    pad = BLOCK_SIZE - (len(data) % BLOCK_SIZE)
    return data + bytes([pad]) * pad


def _pkcs7_unpad(data: bytes) -> bytes:
    if not data:
        raise WeComCryptoError(ERR_BUFFER, "empty plaintext")
    pad = data[-1]
    if pad < 1 or pad > BLOCK_SIZE or len(data) < pad or data[-pad:] != bytes([pad]) * pad:
        raise WeComCryptoError(ERR_DECRYPT, "bad padding")
    return data[:-pad]


@dataclass(frozen=True)
class Envelope:
    """The outer XML of an encrypted callback."""

    to_user_name: str
    encrypt: str
    agent_id: str


def parse_xml(body: bytes | str) -> ET.Element:
    """Parse a (small, flat) WeCom XML document, refusing DTDs/entities outright (XXE, billion laughs)."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    if b"<!DOCTYPE" in raw.upper() or b"<!ENTITY" in raw.upper():
        raise WeComCryptoError(ERR_PARSE_XML, "DTDs are not accepted")
    try:
        return ET.fromstring(raw)  # noqa: S314 - DTDs and entities refused above
    except ET.ParseError as exc:
        raise WeComCryptoError(ERR_PARSE_XML, "malformed XML") from exc


def xml_to_dict(root: ET.Element) -> dict[str, object]:
    """Flat element → dict; repeated or nested children (MemChangeList/Item) become lists of texts."""
    out: dict[str, object] = {}
    for child in root:
        if len(child):
            out[child.tag] = [(item.text or "").strip() for item in child]
        else:
            out[child.tag] = (child.text or "").strip()
    return out


def parse_envelope(body: bytes | str) -> Envelope:
    root = parse_xml(body)
    encrypt = root.findtext("Encrypt")
    if not encrypt:
        raise WeComCryptoError(ERR_PARSE_XML, "no Encrypt element")
    return Envelope(
        to_user_name=(root.findtext("ToUserName") or "").strip(),
        encrypt=encrypt.strip(),
        agent_id=(root.findtext("AgentID") or "").strip(),
    )


class WeComCrypto:
    """Verify, decrypt and encrypt callbacks for one app (token, EncodingAESKey, receive id = CorpID)."""

    def __init__(self, token: str, aes_key: str, receive_id: str) -> None:
        self.token = token
        self.key = decode_aes_key(aes_key)
        self.iv = self.key[:16]
        self.receive_id = receive_id

    def check_signature(self, msg_signature: str, timestamp: str, nonce: str, encrypt: str) -> None:
        """Raise WeComCryptoError(-40001) unless ``msg_signature`` is right (constant-time compare)."""
        expected = signature(self.token, timestamp, nonce, encrypt)
        if not hmac.compare_digest(expected, (msg_signature or "").lower()):
            raise WeComCryptoError(ERR_SIGNATURE, "signature mismatch")

    def decrypt(self, encrypt: str) -> bytes:
        """The message inside ``encrypt``; checks padding, length and that receiveid is our CorpID."""
        try:
            cipher_bytes = base64.b64decode(encrypt, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise WeComCryptoError(ERR_BASE64_DECODE, "Encrypt is not base64") from exc
        if not cipher_bytes or len(cipher_bytes) % 16:
            raise WeComCryptoError(ERR_DECRYPT, "ciphertext is not whole AES blocks")
        decryptor = Cipher(algorithms.AES(self.key), modes.CBC(self.iv)).decryptor()
        plain = _pkcs7_unpad(decryptor.update(cipher_bytes) + decryptor.finalize())
        if len(plain) < 20:
            raise WeComCryptoError(ERR_BUFFER, "plaintext too short")
        (length,) = struct.unpack(">I", plain[16:20])
        if 20 + length > len(plain):
            raise WeComCryptoError(ERR_BUFFER, "length field exceeds plaintext")
        msg, receive_id = plain[20 : 20 + length], plain[20 + length :]
        if not hmac.compare_digest(receive_id, self.receive_id.encode("utf-8")):
            raise WeComCryptoError(ERR_RECEIVE_ID, "receiveid does not match the CorpID")
        return msg

    def verify_and_decrypt(self, msg_signature: str, timestamp: str, nonce: str, encrypt: str) -> bytes:
        self.check_signature(msg_signature, timestamp, nonce, encrypt)
        return self.decrypt(encrypt)

    def encrypt(self, msg: bytes, *, random16: bytes | None = None) -> str:
        """Base64 ciphertext of ``msg`` laid out and padded as WeCom expects."""
        rnd = random16 if random16 is not None else os.urandom(16)
        if len(rnd) != 16:
            raise WeComCryptoError(ERR_ENCRYPT, "random prefix must be 16 bytes")
        plain = rnd + struct.pack(">I", len(msg)) + msg + self.receive_id.encode("utf-8")
        encryptor = Cipher(algorithms.AES(self.key), modes.CBC(self.iv)).encryptor()
        data = encryptor.update(_pkcs7_pad(plain)) + encryptor.finalize()
        return base64.b64encode(data).decode("ascii")

    def encrypted_reply(self, msg: bytes, *, nonce: str, timestamp: str | None = None) -> str:
        """A passive reply envelope: ``<xml><Encrypt/><MsgSignature/><TimeStamp/><Nonce/></xml>``."""
        ts = timestamp or str(int(time.time()))
        encrypt = self.encrypt(msg)
        sig = signature(self.token, ts, nonce, encrypt)
        root = ET.Element("xml")
        for tag, text in (("Encrypt", encrypt), ("MsgSignature", sig), ("TimeStamp", ts), ("Nonce", nonce)):
            ET.SubElement(root, tag).text = text
        return ET.tostring(root, encoding="unicode")
