import { packetStats } from '../maps/packet-stats.ts';

export default packetStats();
