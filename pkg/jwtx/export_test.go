package jwtx

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
