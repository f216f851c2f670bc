//! The server's side of one USER_SRP_AUTH sign-in: B for the challenge (one modular
//! exponentiation) and the check of the client's proof (two), and the verifier made when a
//! password is set. `cargo bench -p tokenbridge-srp`.

use tokenbridge_microbench::Bench;
use tokenbridge_srp::{cognito_timestamp, make_verifier, pool_name, start, verify, SrpError};

/// An SRP_A a client sent (pycognito's, from the unit tests' vector); the proof below does not
/// match it, which costs the same work as one that does: the comparison comes last.
const SRP_A: &str = concat!(
    "bca5582c41e2608b50e8eae096cb05c105c5a43b83cd206e576855ef731ccc092cf0343db6304b338672a8f1f3f8002a",
    "d19a1c9807c41941709ec9243d1405add20c9d5ff3c2c0e81a6799486f46c402d9c3eae357b53d46e924a461c4758106",
    "bbc1869c4e9546de7c14c638a8e296c287df5bfc4d0820a316feb66f1be09b265dea0eb2a807fd75af3eaf3da2949da3",
    "b1fea332b223f075dd2aa39e3ab353de0068f57d4fec509a5a4720b5306c6dbe14a3d1c55eadb7807436ec436e1d2986",
    "387e4d997cc3205b13f2a12b96850554962526fedbd47353bfe63d58df3eeefa1659d749844872aa5d75c8449b404913",
    "3ca285babb3e38f35f6804fed6f8984ca5efc57e044f981c0902c80d1f6d5b914c121afd57b6090f24c0cf0308d91871",
    "819319577fbc703d6951936e2665b3be53a9bb3395b91a9274718da87332c761d8ae1ee5798743088dcf1dceceba90a0",
    "f666504f16bef16de7e13f516b60dbc7507ac9fdb6b8893cd861b5078c52c6c87fe0dd3d86786ade6b944dc69fdb6bcc",
);
const SECRET_BLOCK: &str = "c2VjcmV0IGJsb2NrIGZyb20gdGhlIHNlcnZlcg==";
const PROOF: &str = "UQQOeDLL3cBaeJRDVqXtADcNRmC/8vlQGtAL9fu8104=";

fn main() {
    let bench = Bench::from_args();
    let pool = pool_name("us-east-1_AbCdEf123");
    let verifier = make_verifier(pool, "alice", "correct horse battery staple");
    let session = start(&verifier);
    let timestamp = cognito_timestamp(1_793_862_245);

    bench.run("make_verifier (password set)", || make_verifier(pool, "alice", "correct horse battery staple"));
    bench.run("start (SRP_B)", || start(&verifier));
    bench.run("verify (PASSWORD_VERIFIER answer)", || {
        let outcome = verify(&session, pool, "alice", SRP_A, SECRET_BLOCK, &timestamp, PROOF);
        assert_eq!(outcome, Err(SrpError::SignatureMismatch));
    });
}
