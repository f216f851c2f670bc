#!/usr/bin/env python3
"""A SAML 2.0 peer on pysaml2 and Debian's xmlsec1: an outside oracle for tokenbridge's service
provider. Usage and examples: interop/saml/README.md; `peer.py SUBCOMMAND --help`.

As the IdP (what tokenbridge must interoperate with):
  keys                 an RSA-2048 key and a self-signed certificate
  idp-metadata         IdP metadata: signing certificates, an HTTP-Redirect SSO service
  response             a SAMLResponse from pysaml2's IdP Server, base64 as an HTTP-POST form carries it
  check-authn-request  pysaml2's IdP parses an HTTP-Redirect AuthnRequest URL and checks its signature
  check-sp-metadata    pysaml2's metadata store loads SP metadata and says what it found

As an SP (to check the IdP side above, and to compare with tokenbridge's own output):
  sp-metadata          SP metadata from pysaml2's SP configuration
  authn-request        an HTTP-Redirect AuthnRequest URL from pysaml2's SP, signed or not
  verify-response      pysaml2's SP verifies a SAMLResponse (signatures, audience, times, decryption)

Results go to stdout (JSON, XML or a single line); on failure a line `peer.py SUBCOMMAND: ...` goes
to stderr and the exit code is 1 (2 for a usage error).
"""

import argparse
import base64
import datetime
import json
import logging
import os
import sys
import tempfile
import traceback
import urllib.parse
import warnings
from xml.etree import ElementTree

from cryptography import utils as cryptography_utils
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

# pysaml2 still names a cipher mode that cryptography moved; that is no concern of this tool's output.
warnings.filterwarnings("ignore", category=cryptography_utils.CryptographyDeprecationWarning)

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, saml, samlp, xmldsig
from saml2.attribute_converter import AttributeConverter
from saml2.client import Saml2Client
from saml2.config import IdPConfig, SPConfig
from saml2.mdstore import MetadataStore
from saml2.metadata import create_metadata_string
from saml2.saml import NameID
from saml2.server import Server
from saml2.sigver import TRIPLE_DES_CBC, get_pem_wrapped_unwrapped, get_xmlsec_binary, make_temp, pre_encryption_part
from saml2.xml.schema import XMLSchemaError
from saml2.xml.schema import validate as validate_with_schema

NAME_ID_FORMATS = {
    "persistent": saml.NAMEID_FORMAT_PERSISTENT,
    "transient": saml.NAMEID_FORMAT_TRANSIENT,
    "email": saml.NAMEID_FORMAT_EMAILADDRESS,
    "unspecified": saml.NAMEID_FORMAT_UNSPECIFIED,
}
SIG_ALGS = {"rsa-sha256": xmldsig.SIG_RSA_SHA256, "rsa-sha1": xmldsig.SIG_RSA_SHA1}
DIGESTS = {"sha256": xmldsig.DIGEST_SHA256, "sha1": xmldsig.DIGEST_SHA1}
# Content encryption of an EncryptedAssertion: (xmlenc algorithm, xmlsec1 --session-key). The
# session key is always wrapped with RSA-OAEP-MGF1P, as pysaml2 does.
ENCRYPTIONS = {
    "tripledes-cbc": (TRIPLE_DES_CBC, "des-192"),
    "aes128-cbc": ("http://www.w3.org/2001/04/xmlenc#aes128-cbc", "aes-128"),
    "aes256-cbc": ("http://www.w3.org/2001/04/xmlenc#aes256-cbc", "aes-256"),
    "aes128-gcm": ("http://www.w3.org/2009/xmlenc11#aes128-gcm", "aes-128"),
    "aes256-gcm": ("http://www.w3.org/2009/xmlenc11#aes256-gcm", "aes-256"),
}
PYSAML2_ENCRYPTION = "tripledes-cbc"


class PeerError(Exception):
    """A refusal or a failed check, said in one line."""


def xmlsec_binary():
    """/usr/bin/xmlsec1 (Debian's xmlsec1) or whichever xmlsec1 is on PATH; pysaml2 signs,
    verifies, encrypts and decrypts with it."""
    try:
        return get_xmlsec_binary(["/usr/bin"])
    except Exception as e:
        raise PeerError("xmlsec1 not found (Debian: apt-get install xmlsec1)") from e


def read_text(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def name_id_format(value):
    return NAME_ID_FORMATS.get(value, value)


# ---------------------------------------------------------------------------------------------
# Configurations: pysaml2 reads dicts; metadata of the other side is given inline, as XML.


def with_verbatim_attributes(config):
    """Attribute names as given, both ways: pysaml2's own maps would turn `email` into an OID with
    a FriendlyName (and back)."""
    verbatim = AttributeConverter()
    verbatim.from_dict({"identifier": saml.NAME_FORMAT_URI, "to": {}, "fro": {}})
    config.setattr("", "attribute_converters", [verbatim])
    return config


def idp_config(entity_id, sso_url, key=None, certs=(), sp_metadata=(), lifetime_seconds=300,
               want_authn_requests_signed=False):
    idp = {
        "endpoints": {"single_sign_on_service": [(sso_url, BINDING_HTTP_REDIRECT)]},
        "want_authn_requests_signed": want_authn_requests_signed,
        "name_id_format": list(NAME_ID_FORMATS.values()),
        "policy": {"default": {"lifetime": {"seconds": lifetime_seconds}, "name_form": saml.NAME_FORMAT_URI}},
    }
    conf = {
        "entityid": entity_id,
        "xmlsec_binary": xmlsec_binary(),
        "service": {"idp": idp},
        "metadata": {"inline": list(sp_metadata)} if sp_metadata else {},
    }
    if key:
        conf["key_file"] = key
    if certs:
        conf["cert_file"] = certs[0]
        conf["additional_cert_files"] = list(certs[1:])
    return with_verbatim_attributes(IdPConfig().load(conf))


def sp_config(entity_id, acs_url, idp_metadata=(), key=None, cert=None, encryption_key=None,
              encryption_cert=None, authn_requests_signed=False, want_assertions_signed=False,
              want_response_signed=False, time_slack=0, allow_unsolicited=True):
    sp = {
        "endpoints": {"assertion_consumer_service": [(acs_url, BINDING_HTTP_POST)]},
        "authn_requests_signed": authn_requests_signed,
        "want_assertions_signed": want_assertions_signed,
        "want_response_signed": want_response_signed,
        # One of the two signatures at least, as any SP must insist.
        "want_assertions_or_response_signed": True,
        "allow_unsolicited": allow_unsolicited,
        "name_id_format": [saml.NAMEID_FORMAT_PERSISTENT],
    }
    conf = {
        "entityid": entity_id,
        "xmlsec_binary": xmlsec_binary(),
        "service": {"sp": sp},
        "metadata": {"inline": list(idp_metadata)} if idp_metadata else {},
        "accepted_time_diff": time_slack,
        "allow_unknown_attributes": True,
    }
    if key:
        conf["key_file"] = key
    if cert:
        conf["cert_file"] = cert
    if encryption_key:
        conf["encryption_keypairs"] = [{"key_file": encryption_key, "cert_file": encryption_cert}]
    return with_verbatim_attributes(SPConfig().load(conf))


def metadata_xml(config):
    xml = create_metadata_string(None, config=config)
    return xml.decode("utf-8") if isinstance(xml, bytes) else xml


def only_entity(mds):
    """The one entity id in a metadata store."""
    ids = list(mds.keys())
    if len(ids) != 1:
        raise PeerError(f"expected metadata for one entity, found {len(ids)}: {ids}")
    return ids[0]


def schema_valid(xml, what):
    """Validates against the SAML 2.0 schemas pysaml2 ships (what it checks signed messages with)."""
    try:
        validate_with_schema(xml)
    except XMLSchemaError as e:
        lines = str(e.args[0].get("error", e)).splitlines()
        reason = next((line for line in lines if line.startswith("Reason:")), lines[0] if lines else "")
        raise PeerError(f"{what} is not valid against the SAML 2.0 schema: {reason}") from e


def load_metadata(xml):
    mds = MetadataStore(attrc=None, config=IdPConfig().load({"xmlsec_binary": xmlsec_binary()}))
    try:
        mds.load("inline", xml)
    except Exception as e:
        raise PeerError(f"pysaml2 cannot load the metadata: {type(e).__name__}: {e}") from e
    return mds


class IdPServer(Server):
    """pysaml2's IdP Server, with a choice of content encryption: pysaml2 itself always encrypts
    with 3DES-CBC, which an SP may rightly refuse."""

    encryption = PYSAML2_ENCRYPTION

    def _encrypt_assertion(self, encrypt_cert, sp_entity_id, response, node_xpath=None):
        if self.encryption == PYSAML2_ENCRYPTION:
            return super()._encrypt_assertion(encrypt_cert, sp_entity_id, response, node_xpath)
        # What pysaml2's own method does for one given certificate, with another algorithm.
        algorithm, session_key = ENCRYPTIONS[self.encryption]
        wrapped, unwrapped = get_pem_wrapped_unwrapped(encrypt_cert)
        cert_file = make_temp(wrapped.encode("ascii"), decode=False, delete_tmpfiles=self.config.delete_tmpfiles)
        template = pre_encryption_part(msg_enc=algorithm, encrypt_cert=unwrapped)
        return self.sec.encrypt_assertion(response, cert_file.name, template, session_key, node_xpath)


# ---------------------------------------------------------------------------------------------
# Subcommands


def write_key_pair(out, name, common_name, days):
    """An RSA-2048 key (PKCS#8 PEM, mode 0600) and a self-signed SHA-256 certificate for it, as
    OUT/NAME.key and OUT/NAME.crt; returns (key path, cert path, certificate)."""
    os.makedirs(out, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    key_path = os.path.join(out, f"{name}.key")
    cert_path = os.path.join(out, f"{name}.crt")
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with open(os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
        f.write(key_pem)
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path, cert


def cmd_keys(args):
    key_path, cert_path, cert = write_key_pair(args.out, args.name, args.common_name, args.days)
    fingerprint = cert.fingerprint(hashes.SHA256()).hex()
    print(json.dumps({"key": key_path, "cert": cert_path, "sha256_fingerprint": fingerprint}, indent=2))


def cmd_idp_metadata(args):
    config = idp_config(args.entity_id, args.sso_url, certs=args.cert,
                        want_authn_requests_signed=args.want_authn_requests_signed)
    sys.stdout.write(metadata_xml(config) + "\n")


def cmd_sp_metadata(args):
    config = sp_config(args.entity_id, args.acs_url, key=args.key, cert=args.cert,
                       encryption_key=args.encryption_key, encryption_cert=args.encryption_cert,
                       authn_requests_signed=args.authn_requests_signed,
                       want_assertions_signed=args.want_assertions_signed)
    sys.stdout.write(metadata_xml(config) + "\n")


def sp_metadata_for_response(args):
    """(sp entity id, acs url, metadata XML): the given SP metadata, or pysaml2's own for the
    entity id and ACS given (with the encryption certificate when there is one)."""
    if args.sp_metadata:
        xml = read_text(args.sp_metadata)
        mds = load_metadata(xml)
        entity_id = only_entity(mds)
        acs = [s["location"] for s in mds.assertion_consumer_service(entity_id, BINDING_HTTP_POST)]
        if not acs:
            raise PeerError(f"the SP metadata of {entity_id} has no HTTP-POST AssertionConsumerService")
        return entity_id, args.acs_url or acs[0], xml
    if not (args.sp_entity_id and args.acs_url):
        raise PeerError("give --sp-metadata FILE, or both --sp-entity-id and --acs-url")
    config = sp_config(args.sp_entity_id, args.acs_url, cert=args.encrypt_to_cert,
                       encryption_cert=args.encrypt_to_cert)
    return args.sp_entity_id, args.acs_url, metadata_xml(config)


def attributes(pairs):
    ava = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise PeerError(f"--attr wants name=value, got {pair!r}")
        ava.setdefault(name, []).append(value)
    return ava


def cmd_response(args):
    if not (args.sign_assertion or args.sign_response or args.unsigned):
        raise PeerError("say what to sign: --sign-assertion and/or --sign-response (or --unsigned)")
    sp_entity_id, acs_url, sp_xml = sp_metadata_for_response(args)
    config = idp_config(args.idp_entity_id, args.sso_url, key=args.key, certs=[args.cert], sp_metadata=[sp_xml],
                        lifetime_seconds=args.not_on_or_after_seconds)
    server = IdPServer(config=config)
    server.encryption = args.encryption
    name_id = NameID(text=args.name_id, format=name_id_format(args.name_id_format))
    encrypt_cert = read_text(args.encrypt_to_cert) if args.encrypt_to_cert else None
    response = server.create_authn_response(
        identity=attributes(args.attr),
        in_response_to=args.in_response_to,
        destination=acs_url,
        sp_entity_id=sp_entity_id,
        name_id=name_id,
        authn={"class_ref": saml.AUTHN_PASSWORD_PROTECTED, "authn_auth": args.idp_entity_id},
        sign_response=args.sign_response,
        sign_assertion=args.sign_assertion,
        encrypt_assertion=bool(encrypt_cert),
        encrypt_cert_assertion=encrypt_cert,
        sign_alg=SIG_ALGS[args.sig_alg],
        digest_alg=DIGESTS[args.digest],
    )
    xml = str(response)
    status = samlp.response_from_string(xml).status.status_code
    if status.value != samlp.STATUS_SUCCESS:
        raise PeerError(f"pysaml2 made an error response ({status.value}): {xml}")
    if args.xml:
        sys.stdout.write(xml + "\n")
    else:
        print(base64.b64encode(xml.encode("utf-8")).decode("ascii"))


def has_encrypted_assertion(b64):
    """Whether the Response as sent carries an EncryptedAssertion (pysaml2 drops it once decrypted)."""
    root = ElementTree.fromstring(base64.b64decode(b64))
    return root.find(f"{{{saml.NAMESPACE}}}EncryptedAssertion") is not None


def cmd_verify_response(args):
    idp_xml = read_text(args.idp_metadata)
    config = sp_config(args.sp_entity_id, args.acs_url, idp_metadata=[idp_xml],
                       encryption_key=args.encryption_key, encryption_cert=args.encryption_cert,
                       want_assertions_signed=args.want_assertions_signed,
                       want_response_signed=args.want_response_signed, time_slack=args.time_slack,
                       allow_unsolicited=not args.in_response_to)
    client = Saml2Client(config=config)
    b64 = read_text(args.response).strip() if args.response != "-" else sys.stdin.read().strip()
    outstanding = {args.in_response_to: args.acs_url} if args.in_response_to else None
    try:
        result = client.parse_authn_request_response(b64, BINDING_HTTP_POST, outstanding=outstanding)
    except Exception as e:
        raise PeerError(f"pysaml2 refuses the response: {type(e).__name__}: {e}") from e
    if result is None:
        raise PeerError("pysaml2 refuses the response (no reason given; run with --verbose)")
    response, assertion = result.response, result.assertion
    if assertion is None:
        raise PeerError("no assertion to read (an EncryptedAssertion needs --encryption-key and --encryption-cert)")
    conditions = assertion.conditions
    confirmation = assertion.subject.subject_confirmation[0].subject_confirmation_data
    print(json.dumps({
        "response_id": response.id,
        "in_response_to": response.in_response_to,
        "destination": response.destination,
        "issuer": response.issuer.text if response.issuer else None,
        "issue_instant": response.issue_instant,
        "response_signed": response.signature is not None,
        "assertion_id": assertion.id,
        "assertion_issue_instant": assertion.issue_instant,
        "assertion_signed": assertion.signature is not None,
        "assertion_encrypted": has_encrypted_assertion(b64),
        "not_before": conditions.not_before,
        "not_on_or_after": conditions.not_on_or_after,
        "subject_confirmation_not_on_or_after": confirmation.not_on_or_after,
        "audiences": [a.text for r in conditions.audience_restriction for a in r.audience],
        "name_id": result.name_id.text,
        "name_id_format": result.name_id.format,
        "attributes": result.ava,
    }, indent=2))


def cmd_authn_request(args):
    idp_xml = read_text(args.idp_metadata)
    signed = bool(args.key)
    config = sp_config(args.sp_entity_id, args.acs_url, idp_metadata=[idp_xml], key=args.key, cert=args.cert,
                       authn_requests_signed=signed)
    client = Saml2Client(config=config)
    idp_entity_id = only_entity(client.metadata)
    _request_id, info = client.prepare_for_authenticate(
        entityid=idp_entity_id,
        relay_state=args.relay_state,
        binding=BINDING_HTTP_REDIRECT,
        sign=signed,
        sigalg=SIG_ALGS[args.sig_alg] if signed else None,
    )
    print(dict(info["headers"])["Location"])


def query_params(url):
    """The query parameters of a redirect URL, percent-decoded; each must appear once."""
    parsed = urllib.parse.urlsplit(url)
    pairs = urllib.parse.parse_qsl(parsed.query, keep_blank_values=True, strict_parsing=True)
    params = {}
    for k, v in pairs:
        if k in params:
            raise PeerError(f"query parameter {k} appears more than once")
        params[k] = v
    return urllib.parse.urlunsplit(parsed._replace(query="", fragment="")), params


def signed_as_sent(url, metadata):
    """Whether the redirect signature verifies over SAMLRequest[&RelayState]&SigAlg exactly as they
    appear in the URL (SAML bindings 3.4.4.1), with a signing certificate of the metadata's SP.
    pysaml2 verifies over its own re-encoding instead; this tells the two apart when it fails."""
    raw = dict(part.split("=", 1) for part in urllib.parse.urlsplit(url).query.split("&") if "=" in part)
    digest = {xmldsig.SIG_RSA_SHA256: hashes.SHA256(), xmldsig.SIG_RSA_SHA1: hashes.SHA1()}.get(
        urllib.parse.unquote_plus(raw.get("SigAlg", "")))
    if digest is None or "Signature" not in raw:
        return False
    signed_bytes = "&".join(f"{k}={raw[k]}" for k in ("SAMLRequest", "RelayState", "SigAlg") if k in raw).encode()
    signature = base64.b64decode(urllib.parse.unquote_plus(raw["Signature"]))
    for _name, cert_b64 in metadata.certs(only_entity(metadata), "spsso", "signing"):
        cert = x509.load_der_x509_certificate(base64.b64decode("".join(cert_b64.split())))
        try:
            cert.public_key().verify(signature, signed_bytes, padding.PKCS1v15(), digest)
            return True
        except InvalidSignature:
            continue
    return False


def cmd_check_authn_request(args):
    sso_url, params = query_params(args.redirect_url)
    if "SAMLRequest" not in params:
        raise PeerError("the URL has no SAMLRequest query parameter")
    signed = "Signature" in params or "SigAlg" in params
    if args.require_signed and not signed:
        raise PeerError("the AuthnRequest is not signed (no Signature/SigAlg query parameters)")
    sp_xml = read_text(args.sp_metadata)
    with tempfile.TemporaryDirectory() as tmp:
        # pysaml2 checks query-string signatures only once it has a key of its own; this one signs nothing.
        key, cert, _ = write_key_pair(tmp, "idp", "throwaway", 1)
        # want_authn_requests_signed makes pysaml2 check the query-string signature: a signature
        # that is there is always checked, one that is missing fails only with --require-signed.
        config = idp_config(args.idp_entity_id, sso_url, key=key, certs=[cert], sp_metadata=[sp_xml],
                            want_authn_requests_signed=signed)
        server = Server(config=config)
        try:
            request = server.parse_authn_request(
                params["SAMLRequest"], BINDING_HTTP_REDIRECT, relay_state=params.get("RelayState"),
                sigalg=params.get("SigAlg"), signature=params.get("Signature"))
        except Exception as e:
            hint = ""
            if signed and signed_as_sent(args.redirect_url, server.metadata):
                hint = (" (yet the signature verifies over the query string as sent: pysaml2 re-encodes the"
                        " values with Python's urllib.parse.urlencode, which this URL's encoding differs from)")
            raise PeerError(f"pysaml2 refuses the AuthnRequest: {type(e).__name__}: {e}{hint}") from e
    if request is None:
        raise PeerError("pysaml2 refuses the AuthnRequest (no reason given; run with --verbose)")
    schema_valid(request.xmlstr, "the AuthnRequest")
    message = request.message
    issuer = message.issuer.text.strip() if message.issuer else None
    if issuer not in server.metadata.keys():
        raise PeerError(f"the AuthnRequest's Issuer {issuer!r} is not the SP in the metadata")
    if not request.issue_instant_ok():
        raise PeerError(f"the AuthnRequest's IssueInstant {message.issue_instant} is more than a day from now")
    sp = server.metadata[issuer]["spsso_descriptor"][0]
    if xs_boolean(sp.get("authn_requests_signed")) and not signed:
        raise PeerError("the SP metadata says AuthnRequestsSigned=true, yet the AuthnRequest carries no signature")
    acs_url = message.assertion_consumer_service_url
    if acs_url:
        binding = message.protocol_binding or BINDING_HTTP_POST
        known = [s["location"] for s in server.metadata.assertion_consumer_service(issuer, binding)]
        if acs_url not in known:
            raise PeerError(f"AssertionConsumerServiceURL {acs_url} with binding {binding} is not in the "
                            f"SP metadata (it has {known})")
    # Where pysaml2 as IdP would send its response: the request's ACS checked against metadata.
    reply = server.response_args(message, [BINDING_HTTP_POST])
    policy = message.name_id_policy
    print(json.dumps({
        "id": message.id,
        "issuer": issuer,
        "issue_instant": message.issue_instant,
        "destination": message.destination,
        "acs_url": message.assertion_consumer_service_url,
        "acs_index": message.assertion_consumer_service_index,
        "protocol_binding": message.protocol_binding,
        "name_id_policy_format": policy.format if policy else None,
        "force_authn": message.force_authn,
        "is_passive": message.is_passive,
        "relay_state": params.get("RelayState"),
        "signed": signed,
        "sig_alg": params.get("SigAlg"),
        "reply_destination": reply["destination"],
        "reply_binding": reply["binding"],
    }, indent=2))


def xs_boolean(value):
    """An xs:boolean attribute as JSON: true/false, or null when absent."""
    return None if value is None else value in ("true", "1")


def cmd_check_sp_metadata(args):
    xml = read_text(args.file)
    schema_valid(xml, "the metadata")
    mds = load_metadata(xml)
    entity_id = only_entity(mds)
    descriptors = mds[entity_id].get("spsso_descriptor") or []
    if not descriptors:
        raise PeerError(f"{entity_id} has no SPSSODescriptor")
    sp = descriptors[0]
    acs = [{"location": s["location"], "binding": s["binding"], "index": s.get("index"),
            "is_default": s.get("is_default")} for s in sp.get("assertion_consumer_service", [])]
    print(json.dumps({
        "entity_id": entity_id,
        "acs": acs,
        "signing_certs": len(mds.certs(entity_id, "spsso", "signing")),
        "encryption_certs": len(mds.certs(entity_id, "spsso", "encryption")),
        "authn_requests_signed": xs_boolean(sp.get("authn_requests_signed")),
        "want_assertions_signed": xs_boolean(sp.get("want_assertions_signed")),
        "name_id_formats": [n["text"] for n in sp.get("name_id_format", [])],
        "protocol_support_enumeration": sp.get("protocol_support_enumeration"),
    }, indent=2))


# ---------------------------------------------------------------------------------------------
# Command line


def parser():
    p = argparse.ArgumentParser(prog="peer.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--verbose", action="store_true", help="pysaml2's debug log on stderr")
    sub = p.add_subparsers(dest="command", required=True, metavar="SUBCOMMAND")

    s = sub.add_parser("keys", help="an RSA-2048 key and a self-signed certificate")
    s.add_argument("--out", required=True, help="directory for NAME.key and NAME.crt")
    s.add_argument("--name", default="idp")
    s.add_argument("--common-name", default="tokenbridge interop test IdP")
    s.add_argument("--days", type=int, default=3650)
    s.set_defaults(run=cmd_keys)

    s = sub.add_parser("idp-metadata", help="IdP metadata XML")
    s.add_argument("--entity-id", required=True)
    s.add_argument("--sso-url", required=True, help="the HTTP-Redirect SingleSignOnService location")
    s.add_argument("--cert", action="append", required=True,
                   help="a signing certificate (PEM); repeat for several (rotation)")
    s.add_argument("--want-authn-requests-signed", action="store_true")
    s.set_defaults(run=cmd_idp_metadata)

    s = sub.add_parser("sp-metadata", help="SP metadata XML made by pysaml2")
    s.add_argument("--entity-id", required=True)
    s.add_argument("--acs-url", required=True, help="the HTTP-POST AssertionConsumerService location")
    s.add_argument("--key", help="signing key (PEM), with --cert")
    s.add_argument("--cert", help="signing certificate (PEM)")
    s.add_argument("--encryption-key")
    s.add_argument("--encryption-cert")
    s.add_argument("--authn-requests-signed", action="store_true")
    s.add_argument("--want-assertions-signed", action="store_true")
    s.set_defaults(run=cmd_sp_metadata)

    s = sub.add_parser("response", help="a SAMLResponse (base64) from pysaml2's IdP")
    s.add_argument("--sp-metadata", help="the SP's metadata (entity id, ACS); or:")
    s.add_argument("--sp-entity-id")
    s.add_argument("--acs-url", help="Destination and Recipient (default: the metadata's HTTP-POST ACS)")
    s.add_argument("--idp-entity-id", required=True)
    s.add_argument("--sso-url", default="https://idp.invalid/sso", help="the IdP's SSO location (not in the response)")
    s.add_argument("--key", required=True, help="the IdP's signing key (PEM)")
    s.add_argument("--cert", required=True, help="the IdP's certificate (PEM), put in the signature's KeyInfo")
    s.add_argument("--name-id", required=True)
    s.add_argument("--name-id-format", default="persistent",
                   help=f"{', '.join(NAME_ID_FORMATS)} or a URN (default persistent)")
    s.add_argument("--in-response-to", help="the AuthnRequest's ID (none: IdP-initiated)")
    s.add_argument("--attr", action="append", default=[], metavar="NAME=VALUE",
                   help="an attribute value, repeat a name for several values")
    s.add_argument("--sign-assertion", action="store_true")
    s.add_argument("--sign-response", action="store_true")
    s.add_argument("--unsigned", action="store_true", help="sign nothing (a response any SP must refuse)")
    s.add_argument("--sig-alg", choices=SIG_ALGS, default="rsa-sha256")
    s.add_argument("--digest", choices=DIGESTS, default="sha256")
    s.add_argument("--encrypt-to-cert", help="encrypt the assertion to this SP certificate (PEM)")
    s.add_argument("--encryption", choices=ENCRYPTIONS, default=PYSAML2_ENCRYPTION,
                   help=f"content encryption with --encrypt-to-cert (default {PYSAML2_ENCRYPTION}, pysaml2's own)")
    s.add_argument("--not-on-or-after-seconds", type=int, default=300,
                   help="assertion lifetime: Conditions and SubjectConfirmationData NotOnOrAfter (default 300)")
    s.add_argument("--xml", action="store_true", help="print the XML instead of base64")
    s.set_defaults(run=cmd_response)

    s = sub.add_parser("verify-response", help="pysaml2's SP verifies a SAMLResponse")
    s.add_argument("--response", required=True, help="file with the base64 SAMLResponse, - for stdin")
    s.add_argument("--idp-metadata", required=True)
    s.add_argument("--sp-entity-id", required=True)
    s.add_argument("--acs-url", required=True)
    s.add_argument("--in-response-to", help="the outstanding AuthnRequest ID (none: unsolicited allowed)")
    s.add_argument("--encryption-key", help="the SP's decryption key (PEM), with --encryption-cert")
    s.add_argument("--encryption-cert")
    s.add_argument("--want-assertions-signed", action="store_true")
    s.add_argument("--want-response-signed", action="store_true")
    s.add_argument("--time-slack", type=int, default=0, help="seconds of clock skew allowed (pysaml2 accepted_time_diff)")
    s.set_defaults(run=cmd_verify_response)

    s = sub.add_parser("authn-request", help="an HTTP-Redirect AuthnRequest URL from pysaml2's SP")
    s.add_argument("--idp-metadata", required=True)
    s.add_argument("--sp-entity-id", required=True)
    s.add_argument("--acs-url", required=True)
    s.add_argument("--key", help="sign with this key (SigAlg/Signature query parameters), with --cert")
    s.add_argument("--cert")
    s.add_argument("--sig-alg", choices=SIG_ALGS, default="rsa-sha256")
    s.add_argument("--relay-state", default="")
    s.set_defaults(run=cmd_authn_request)

    s = sub.add_parser("check-authn-request", help="pysaml2's IdP parses an HTTP-Redirect AuthnRequest")
    s.add_argument("--redirect-url", required=True, help="the whole URL: IdP SSO location ? SAMLRequest ...")
    s.add_argument("--sp-metadata", required=True, help="the SP's metadata: Issuer, ACS and signing certificates")
    s.add_argument("--idp-entity-id", default="urn:tokenbridge:interop:idp")
    s.add_argument("--require-signed", action="store_true", help="fail when there is no query-string signature")
    s.set_defaults(run=cmd_check_authn_request)

    s = sub.add_parser("check-sp-metadata", help="pysaml2's metadata store loads SP metadata")
    s.add_argument("file")
    s.set_defaults(run=cmd_check_sp_metadata)
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.CRITICAL, stream=sys.stderr)
    try:
        args.run(args)
    except PeerError as e:
        print(f"peer.py {args.command}: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # pysaml2's and xmlsec1's own errors: one line, the traceback with --verbose
        if args.verbose:
            traceback.print_exc()
        print(f"peer.py {args.command}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
