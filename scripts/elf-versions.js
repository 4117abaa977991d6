'use strict';
// What a shared object's dynamic string table names: the libtorch*/libc10* sonames it links and the newest
// GLIBC_, GLIBCXX_ and CXXABI_ symbol versions it needs (an addon) or provides (libstdc++). Read as
// NUL-separated strings, so it needs no binutils on the user's machine. Plain Node: the builds and the loader share it.

/** Orders dotted versions ('2.35' < '2.36', '3.4.9' < '3.4.29'): negative, zero or positive. */
function compareVersions(a, b) {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
  return 0;
}

const newest = (text, re) => [...text.matchAll(re)].map((m) => m[1]).sort((a, b) => compareVersions(b, a))[0];

/** { libraries, glibc, glibcxx, cxxabi } of the file's bytes. */
function elfVersions(bytes) {
  const text = bytes.toString('latin1');
  return {
    libraries: [...new Set([...text.matchAll(/(?<=\0)(lib(?:torch|c10)\w*\.so(?:\.\d+)*)(?=\0)/g)].map((m) => m[1]))].sort(),
    glibc: newest(text, /(?<=\0)GLIBC_(\d+\.\d+(?:\.\d+)?)(?=\0)/g),
    glibcxx: newest(text, /(?<=\0)GLIBCXX_(3\.4(?:\.\d+)?)(?=\0)/g),
    cxxabi: newest(text, /(?<=\0)CXXABI_(1\.3(?:\.\d+)?)(?=\0)/g),
  };
}

module.exports = { compareVersions, elfVersions };
