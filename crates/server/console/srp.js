// USER_SRP_AUTH for the console: Cognito's SRP-6a, byte for byte as amazon-cognito-identity-js
// does it, so a password can be proved without sending it. BigInt for the arithmetic, WebCrypto
// for hashing and randomness: no dependencies, and the same file runs in the browser and in Node.

// The 3072-bit group of RFC 5054 (RFC 3526's MODP prime), g = 2, as Cognito uses it.
const N = BigInt(
  "0x" +
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD1" +
    "29024E088A67CC74020BBEA63B139B22514A08798E3404DD" +
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245" +
    "E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED" +
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3D" +
    "C2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F" +
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D" +
    "670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B" +
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9" +
    "DE2BCBF6955817183995497CEA956AE515D2261898FA0510" +
    "15728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64" +
    "ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7" +
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6B" +
    "F12FFA06D98A0864D87602733EC86A64521F2B18177B200C" +
    "BBE117577A615D6C770988C0BAD946E208E24FA074E5AB31" +
    "43DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF",
);
const G = 2n;
const INFO = "Caldera Derived Key";
const utf8 = new TextEncoder();

/**
 * The SDK's padHex for a non-negative integer: even-length lowercase hex, with a "00" byte in
 * front when the top bit is set, so the bytes never read as a negative number. Every integer the
 * protocol hashes goes through this, never padded to the length of N.
 */
export function padHex(n) {
  let hex = n.toString(16);
  if (hex.length % 2) hex = "0" + hex;
  return /^[89a-f]/.test(hex) ? "00" + hex : hex;
}

function hexToBytes(hex) {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
  return out;
}

function bytesToBigInt(bytes) {
  let hex = "";
  for (const b of bytes) hex += b.toString(16).padStart(2, "0");
  return BigInt("0x" + (hex || "0"));
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

async function hmacSha256(key, data) {
  const k = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", k, data));
}

/** H over the padHex bytes of the integers, read as an integer (the SDK's hexHash). */
async function hashInts(...ints) {
  return bytesToBigInt(await sha256(hexToBytes(ints.map(padHex).join(""))));
}

/** base^exp mod m; the base is reduced first so a negative one (B - k·g^x) works too. */
export function modPow(base, exp, m) {
  let result = 1n;
  base = ((base % m) + m) % m;
  while (exp > 0n) {
    if (exp & 1n) result = (result * base) % m;
    base = (base * base) % m;
    exp >>= 1n;
  }
  return result;
}

let kCache;
/** k = H(padHex(N) | padHex(g)): fixed, so computed once. */
function multiplier() {
  return (kCache ??= hashInts(N, G));
}

/** u = H(padHex(A) | padHex(B)). */
export function calculateU(A, B) {
  return hashInts(A, B);
}

/**
 * The 16-byte session key: HKDF-SHA256 with ikm = padHex(S), salt = padHex(u) and info
 * "Caldera Derived Key". The SDK computes one expand block by hand; with L = 16 that is exactly
 * RFC 5869, so WebCrypto's HKDF gives the same bytes.
 */
export async function hkdf(ikm, salt) {
  const key = await crypto.subtle.importKey("raw", ikm, "HKDF", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits(
    { name: "HKDF", hash: "SHA-256", salt, info: utf8.encode(INFO) },
    key,
    128,
  );
  return new Uint8Array(bits);
}

/** A random 1024-bit a, like the SDK's: far below N, so it needs no reduction. */
export function randomSmallA() {
  return bytesToBigInt(crypto.getRandomValues(new Uint8Array(128)));
}

/** A = g^a mod N; the SDK refuses an A that is 0 mod N, and so does this. */
export function calculateA(a) {
  const A = modPow(G, a, N);
  if (A === 0n) throw new Error("SRP: A mod N is 0; try again");
  return A;
}

const WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/**
 * TIMESTAMP as the SDK's getNowString writes it, "Tue Nov 3 07:04:05 UTC 2026": the server
 * signs this exact string, so the day of month stays unpadded while the time is zero-padded.
 */
export function srpTimestamp(date = new Date()) {
  const two = (n) => String(n).padStart(2, "0");
  return (
    `${WEEKDAYS[date.getUTCDay()]} ${MONTHS[date.getUTCMonth()]} ${date.getUTCDate()} ` +
    `${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())} ` +
    `UTC ${date.getUTCFullYear()}`
  );
}

/** The part of a pool id ("us-east-1_AbC123") after the underscore, as the SDK splits it. */
export function poolNameOf(userPoolId) {
  const name = String(userPoolId).split("_")[1];
  if (!name) throw new Error(`SRP: "${userPoolId}" is not a user pool id (region_name)`);
  return name;
}

/**
 * PASSWORD_CLAIM_SIGNATURE for one PASSWORD_VERIFIER challenge, from the client secret a (and its
 * A) and the challenge's SRP_B, SALT and SECRET_BLOCK. Pure apart from WebCrypto, so it can be
 * checked against fixed vectors.
 */
export async function passwordClaimSignature({ poolName, userId, password, a, A, srpB, salt, secretBlock, timestamp }) {
  const B = BigInt("0x" + srpB);
  // SRP-6a says to abort on either (RFC 5054 section 2.6), and the SDK does.
  if (B % N === 0n) throw new Error("SRP: the server's B is 0 mod N");
  const u = await calculateU(A, B);
  if (u === 0n) throw new Error("SRP: u is 0");
  // x = H(padHex(salt) | H(poolName | userId | ":" | password)); SALT is read as an integer first.
  const inner = await sha256(utf8.encode(`${poolName}${userId}:${password}`));
  const x = bytesToBigInt(await sha256(concat(hexToBytes(padHex(BigInt("0x" + salt))), inner)));
  const k = await multiplier();
  const S = modPow(B - k * modPow(G, x, N), a + u * x, N);
  const key = await hkdf(hexToBytes(padHex(S)), hexToBytes(padHex(u)));
  const block = Uint8Array.from(atob(secretBlock), (c) => c.charCodeAt(0));
  const message = concat(utf8.encode(poolName), utf8.encode(userId), block, utf8.encode(timestamp));
  return btoa(String.fromCharCode(...(await hmacSha256(key, message))));
}

/**
 * Signs in with USER_SRP_AUTH through `cognito(action, body)`, the caller's POST to the Cognito
 * endpoint. Resolves to the last response: the tokens, a further challenge (NEW_PASSWORD_REQUIRED,
 * MFA, ...) or the error. `secretHash` (for clients with a secret) is either a string, sent with
 * both calls, or a function of the username giving one: the second call is made for
 * USER_ID_FOR_SRP, which need not be the name typed in.
 */
export async function srpSignIn(cognito, { clientId, username, password, userPoolId, secretHash }) {
  // Browsers give WebCrypto only to secure contexts: a console on plain http away from localhost has none.
  if (!globalThis.crypto?.subtle) {
    throw new Error("SRP needs WebCrypto (crypto.subtle): open the console over https or on localhost");
  }
  const hashFor = async (name) =>
    typeof secretHash === "function" ? await secretHash(name) : secretHash;
  const a = randomSmallA();
  const A = calculateA(a);
  const authParameters = { USERNAME: username, SRP_A: A.toString(16) };
  const firstHash = await hashFor(username);
  if (firstHash) authParameters.SECRET_HASH = firstHash;
  const started = await cognito("InitiateAuth", {
    AuthFlow: "USER_SRP_AUTH",
    ClientId: clientId,
    AuthParameters: authParameters,
  });
  if (!started.ok || started.json?.ChallengeName !== "PASSWORD_VERIFIER") return started;

  const params = started.json.ChallengeParameters ?? {};
  const poolId = userPoolId || params.USER_POOL_ID;
  if (!poolId) throw new Error("SRP: no user pool id given, and the PASSWORD_VERIFIER challenge names none");
  for (const name of ["USER_ID_FOR_SRP", "SRP_B", "SALT", "SECRET_BLOCK"]) {
    if (typeof params[name] !== "string" || !params[name]) {
      throw new Error(`SRP: the PASSWORD_VERIFIER challenge has no ${name}`);
    }
  }
  // The SDK proves the password for USER_ID_FOR_SRP, not for the name that was typed.
  const userId = params.USER_ID_FOR_SRP;
  const timestamp = srpTimestamp(new Date());
  const signature = await passwordClaimSignature({
    poolName: poolNameOf(poolId),
    userId,
    password,
    a,
    A,
    srpB: params.SRP_B,
    salt: params.SALT,
    secretBlock: params.SECRET_BLOCK,
    timestamp,
  });
  const responses = {
    USERNAME: userId,
    PASSWORD_CLAIM_SECRET_BLOCK: params.SECRET_BLOCK,
    PASSWORD_CLAIM_SIGNATURE: signature,
    TIMESTAMP: timestamp,
  };
  const secondHash = await hashFor(userId);
  if (secondHash) responses.SECRET_HASH = secondHash;
  const body = { ChallengeName: "PASSWORD_VERIFIER", ClientId: clientId, ChallengeResponses: responses };
  if (started.json.Session) body.Session = started.json.Session;
  return cognito("RespondToAuthChallenge", body);
}
