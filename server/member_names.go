package server

// MemberNames returns the names the members of the cluster published
// (their --name), by member ID, as this member has applied them: what
// `etcdctl member list` shows. A member that has not yet published its
// name is absent. Safe to call from any goroutine; nil if the store cannot
// be read (the member is stopping).
func (s *Server) MemberNames() map[uint64]string {
	attributes := s.store.MemberAttributes()
	if attributes == nil {
		return nil
	}
	names := make(map[uint64]string, len(attributes))
	for id, attribute := range attributes {
		if attribute.Name != "" {
			names[id] = attribute.Name
		}
	}
	return names
}
