//! The names of user pools, as tokens and configuration spell them: a pool id and a pool's
//! issuer. Pure functions, depending on nothing, so the issuer, the configuration checks and
//! every domain may read a pool's name without depending on the user-pool domain.

/// Whether `id` has the shape of a pool id (`<region>_<alnum>`), as the AWS clients check it.
pub fn is_pool_id(id: &str) -> bool {
    let Some((region, name)) = id.split_once('_') else { return false };
    let region_ok = region.split('-').count() >= 3
        && region.split('-').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
        && region.ends_with(|c: char| c.is_ascii_digit());
    region_ok && !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Whether `iss` names a pool of this server whose public URL is `base`: `<base>/<pool-id>` or the
/// AWS form. The signature (by our keys) is what proves the token ours; this only keeps `iss`
/// honest.
pub fn is_pool_issuer(base: &str, iss: &str) -> bool {
    if let Some(id) = iss.strip_prefix(base).and_then(|r| r.strip_prefix('/')) {
        return is_pool_id(id);
    }
    iss.strip_prefix("https://cognito-idp.")
        .and_then(|r| r.split_once(".amazonaws.com/"))
        .is_some_and(|(region, id)| is_pool_id(id) && id.split('_').next() == Some(region))
}
