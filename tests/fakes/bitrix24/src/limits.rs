//! The leaky bucket in front of the REST API: each admitted request adds one,
//! the bucket drains `per_second` (on the portal's clock), and a request that
//! would overflow `burst` is refused with 503 `QUERY_LIMIT_EXCEEDED`.

use crate::state::State;

/// Admits or refuses one request; refused requests don't fill the bucket.
pub(crate) fn admit(st: &mut State) -> bool {
    let Some(limit) = st.opts.rate_limit else {
        return true;
    };
    let now = st.now();
    let drained = (now - st.bucket_at).max(0.0) * limit.per_second;
    st.bucket_level = (st.bucket_level - drained).max(0.0);
    st.bucket_at = now;
    if st.bucket_level + 1.0 > limit.burst + 1e-9 {
        return false;
    }
    st.bucket_level += 1.0;
    true
}
