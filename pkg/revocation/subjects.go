package revocation

// Stream and subject names. They are public interface: other services
// subscribe to them.
const (
	// StreamName is the JetStream stream that stores every revocation.
	StreamName = "REVOCATIONS"
	// SubjectAll matches every revocation subject.
	SubjectAll = "revocation.>"
	// SubjectTokenPrefix is followed by the user id; carries TokenRevoked.
	SubjectTokenPrefix = "revocation.token."
	// SubjectUserPrefix is followed by the user id; carries UserTokensRevoked.
	SubjectUserPrefix = "revocation.user."
	// SubjectSessionPrefix is followed by the user id; carries
	// SessionRevoked.
	SubjectSessionPrefix = "revocation.session."
	// SubjectApplied is the core NATS subject (not stored in the stream) on
	// which the revocation service announces the stream sequences it has
	// written to Redis. See Applied.
	SubjectApplied = "watermark.revocation"
)
