export { ShardLeases, ShardingError, owner as shardOwner, assignShards, encodeToken as shardKeyToken, type ShardLeasesOptions, type ShardLease, type ShardMember, type ShardReport } from './leases.js';
export { followStream, type StreamFeed, type StreamFeedOptions } from './stream-feed.js';
export { shardInstanceName, shardLeaseSettings } from './settings.js';
