/** Matchers for the page fault oops of a guest access to protected kernel data. */

/** The first line of the page fault oops a guest access to `region` gives. */
export const pageFaultIn = (region: string) =>
  new RegExp(
    `^BUG: unable to handle page fault for address: [0-9a-f]{16} in ${region.replace(/[()/.]/g, '\\$&')} \\(kernel data\\)$`,
  );
