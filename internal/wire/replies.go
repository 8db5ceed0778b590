package wire

import (
	"encoding/binary"
	"hash/maphash"
	"sync"
)

// Reply is a packed reply kept for reuse. Its ID is zero and its question name
// lower case; WriteTo makes it the reply to one query.
type Reply struct {
	msg     []byte
	ttls    []uint16 // offsets of the TTL fields to count down; nil to keep them
	stored  int64    // unix nanoseconds when packed
	expires int64    // unix nanoseconds; 0 for never (local data lives until reload)
	// Source is the pipeline source that produced the reply, and Rule its
	// forward rule (empty for local data), for the query log and metrics.
	Source, Rule string
}

// NewReply keeps msg (which it owns from now on) as a reply. When age is set,
// its TTLs count down from now and it expires after nine tenths of its
// smallest TTL, or at until (unix nanoseconds) when that comes first: the
// moment its entry in the answer cache enters its last tenth, where a read
// triggers prefetch. Otherwise it is served unchanged until the cache is
// dropped. ok is false when msg does not walk as a DNS message, or when it
// should age but carries no TTL or has no time left.
func NewReply(msg []byte, age bool, now, until int64, source, rule string) (r *Reply, ok bool) {
	offs, minTTL, ok := ttlOffsets(msg)
	if !ok {
		return nil, false
	}
	r = &Reply{msg: msg, stored: now, Source: source, Rule: rule}
	if age {
		if len(offs) == 0 || minTTL == 0 {
			return nil, false
		}
		r.ttls = offs
		r.expires = now + int64(minTTL)*9e8
		if until != 0 && until < r.expires {
			r.expires = until
		}
		if r.expires <= now {
			return nil, false
		}
	}
	return r, true
}

// WriteTo writes into dst (reusing its storage) the reply to the query that q
// was parsed from: the query's ID, its RD and CD bits, its question name in its
// own case, and TTLs lowered by the time since the reply was stored.
func (r *Reply) WriteTo(dst []byte, packet []byte, q *Query, now int64) []byte {
	out := append(dst[:0], r.msg...)
	binary.BigEndian.PutUint16(out, q.ID)
	flags := binary.BigEndian.Uint16(out[2:])&^(flagRD|flagCD) | q.Flags&(flagRD|flagCD)
	binary.BigEndian.PutUint16(out[2:], flags)
	copy(out[HeaderLen:HeaderLen+q.nameLen], packet[HeaderLen:HeaderLen+q.nameLen])

	if r.ttls != nil {
		elapsed := uint32((now - r.stored) / 1e9)
		for _, off := range r.ttls {
			ttl := binary.BigEndian.Uint32(out[off:])
			if ttl > elapsed {
				ttl -= elapsed
			} else {
				ttl = 0
			}
			binary.BigEndian.PutUint32(out[off:], ttl)
		}
	}
	return out
}

// WellFormed reports whether msg holds exactly the records its header counts:
// every question with its type and class, every record whole, nothing after
// the last. It checks structure only, not names or record data.
func WellFormed(msg []byte) bool {
	_, _, ok := ttlOffsets(msg)
	return ok
}

// Whole reports whether msg holds at least the records its header counts,
// each of them whole. Unlike WellFormed it allows bytes after the last record,
// which some servers send and which are harmless in an answer.
func Whole(msg []byte) bool {
	_, _, _, ok := walk(msg)
	return ok
}

// ttlOffsets walks msg and returns the offsets of the TTL fields of its
// records (the OPT record's is not a TTL) and the smallest TTL.
func ttlOffsets(msg []byte) (offs []uint16, minTTL uint32, ok bool) {
	offs, minTTL, end, ok := walk(msg)
	if !ok || end != len(msg) {
		return nil, 0, false
	}
	return offs, minTTL, true
}

// walk steps over the question and records that msg's header counts and
// returns where they end, with what ttlOffsets reports of them.
func walk(msg []byte) (offs []uint16, minTTL uint32, end int, ok bool) {
	if len(msg) < HeaderLen || len(msg) > 65535 {
		return nil, 0, 0, false
	}
	qd := int(binary.BigEndian.Uint16(msg[4:]))
	rrs := int(binary.BigEndian.Uint16(msg[6:])) + int(binary.BigEndian.Uint16(msg[8:])) +
		int(binary.BigEndian.Uint16(msg[10:]))
	off := HeaderLen
	for i := 0; i < qd; i++ {
		if off, ok = skipName(msg, off); !ok || off+4 > len(msg) {
			return nil, 0, 0, false
		}
		off += 4
	}
	minTTL = ^uint32(0)
	for i := 0; i < rrs; i++ {
		if off, ok = skipName(msg, off); !ok || off+10 > len(msg) {
			return nil, 0, 0, false
		}
		if binary.BigEndian.Uint16(msg[off:]) != typeOPT {
			offs = append(offs, uint16(off+4))
			minTTL = min(minTTL, binary.BigEndian.Uint32(msg[off+4:]))
		}
		off += 10 + int(binary.BigEndian.Uint16(msg[off+8:]))
	}
	if off > len(msg) {
		return nil, 0, 0, false // the last record's data runs past the end
	}
	if len(offs) == 0 {
		minTTL = 0
	}
	return offs, minTTL, off, true
}

func skipName(msg []byte, off int) (int, bool) {
	for off < len(msg) {
		l := int(msg[off])
		switch {
		case l == 0:
			return off + 1, true
		case l&0xc0 == 0xc0:
			return off + 2, off+2 <= len(msg)
		case l > 63:
			return 0, false
		}
		off += 1 + l
	}
	return 0, false
}

const replyShards = 16

// Replies is a size-bounded cache of packed replies, safe for concurrent use.
type Replies struct {
	seed   maphash.Seed
	shards [replyShards]replyShard
}

type replyShard struct {
	mu  sync.RWMutex
	m   map[string]*Reply // guarded by mu
	max int
}

// NewReplies makes a cache of at most size replies; 0 keeps none.
func NewReplies(size int) *Replies {
	c := &Replies{seed: maphash.MakeSeed()}
	per := (size + replyShards - 1) / replyShards
	for i := range c.shards {
		c.shards[i] = replyShard{m: map[string]*Reply{}, max: per}
	}
	return c
}

func (c *Replies) shard(key []byte) *replyShard {
	return &c.shards[maphash.Bytes(c.seed, key)%replyShards]
}

// Enabled reports whether the cache keeps any reply at all.
func (c *Replies) Enabled() bool { return c.shards[0].max > 0 }

// Get returns the reply kept under key, unless it has expired by now.
func (c *Replies) Get(key []byte, now int64) *Reply {
	s := c.shard(key)
	s.mu.RLock()
	r := s.m[string(key)]
	s.mu.RUnlock()
	if r == nil || (r.expires != 0 && now >= r.expires) {
		return nil
	}
	return r
}

// Put keeps r under key, evicting an arbitrary entry when the shard is full.
func (c *Replies) Put(key []byte, r *Reply) {
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.max == 0 {
		return
	}
	if _, exists := s.m[string(key)]; !exists && len(s.m) >= s.max {
		for k := range s.m {
			delete(s.m, k)
			break
		}
	}
	s.m[string(key)] = r
}
