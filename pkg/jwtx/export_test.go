package jwtx

// VerifiedCacheLen returns the number of tokens v's verified-token cache
// holds, 0 when it is off.
func VerifiedCacheLen(v *Validator) int {
	if v.verified == nil {
		return 0
	}
	return v.verified.len()
}

// CoalescerStats returns how many checks wait in s's coalescing queue
// (abandoned ones included until a pipeline drops them) and how many round
// trips it has in flight (tests only).
func CoalescerStats(s *RedisStore) (queued, inFlight int) {
	if s.co == nil {
		return 0, 0
	}
	s.co.mu.Lock()
	defer s.co.mu.Unlock()
	return len(s.co.queue), s.co.inFlight
}
