package jwtx

// QueuedChecks returns how many checks wait in s's coalescing queue,
// abandoned ones included until a pipeline drops them (tests only).
func QueuedChecks(s *RedisStore) int {
	if s.co == nil {
		return 0
	}
	s.co.mu.Lock()
	defer s.co.mu.Unlock()
	return len(s.co.queue)
}
