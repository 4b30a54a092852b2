import { irqRmw } from '../races/irq-rmw.ts';

export default irqRmw('racy');
