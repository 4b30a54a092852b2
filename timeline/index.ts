export * from './extract-timeline.ts';
export * from './race-suspects.ts';
export * from './timeline-data.ts';
export * from './timeline-html.ts';
