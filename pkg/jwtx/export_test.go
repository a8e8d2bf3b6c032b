package jwtx

// VerifiedCacheLen returns the number of tokens v's verified-token cache
// holds, 0 when it is off.
func VerifiedCacheLen(v *Validator) int {
	if v.verified == nil {
		return 0
	}
	return v.verified.len()
}
