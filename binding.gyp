# node-gyp build of the finetune native backend (src/backend/native.ts loads build/Release/finetune_native.node).
# - C++17, -O3. Threads: the worker pool in native/src/threads.cc; OpenMP is linked only for its default
#   thread count (OMP_NUM_THREADS, else the CPUs this process may use).
# - x64 baseline is x86-64-v2 (SSE4.2, every x86-64 CPU since ~2009); hot loops are also compiled
#   for AVX2+FMA and for AVX-512 (FT_ISA_VARIANTS in common.h) and the GEMM micro-kernels likewise; the
#   variant is picked at run time (isa.cc: CPUID + XGETBV, setIsa forces a lower one): one binary, safe
#   on old CPUs, fast on new ones.
# - OpenBLAS when native/detect-blas.cjs can link it (FINETUNE_NO_BLAS=1 forces the built-in GEMM; the
#   built-in GEMM is always compiled too and can be selected at run time, so tests cover both paths).
# - finetune_dist (optional, Gloo collectives for `finetune launch`): built only when native/detect-gloo.cjs
#   finds libgloo-dev, so finetune_native still builds without it.
{
  'variables': {
    'ft_blas%': '<!(node native/detect-blas.cjs mode)',
    'ft_gloo%': '<!(node native/detect-gloo.cjs mode)',
  },
  'conditions': [
    ['ft_gloo=="gloo"', {
      'targets': [
        {
          'target_name': 'finetune_dist',
          'sources': ['native/src/dist/gloo_binding.cc'],
          'dependencies': ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
          'cflags_cc': ['-O2', '-std=c++17', '-fexceptions'],
          'include_dirs': ['/usr/include/hiredis'],
          'libraries': ['<!@(node native/detect-gloo.cjs libs)'],
        },
      ],
    }],
  ],
  'targets': [
    {
      'target_name': 'finetune_native',
      'sources': [
        'native/src/binding.cc',
        'native/src/threads.cc',
        'native/src/isa.cc',
        'native/src/elementwise.cc',
        'native/src/reduce.cc',
        'native/src/gemm.cc',
        'native/src/gemm_builtin.cc',
        'native/src/softmax.cc',
        'native/src/norm.cc',
        'native/src/loss.cc',
        'native/src/index.cc',
        'native/src/attention.cc',
        'native/src/optim.cc',
        'native/src/gemm_bf16.cc',
        'native/src/quant.cc',
        'native/src/binding_mixed.cc',
      ],
      'dependencies': ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      'cflags_cc': ['-O3', '-fno-math-errno', '-fno-trapping-math', '-Wno-unused-function', '-Wno-psabi'],
      'conditions': [
        ['OS!="win" and OS!="mac"', {
          'cflags_cc': ['-fopenmp'],
          'ldflags': ['-fopenmp'],
        }],
        ['target_arch=="x64" and OS!="win"', {
          'cflags_cc': ['-march=x86-64-v2', '-mtune=generic'],
        }],
        ['ft_blas=="openblas"', {
          'defines': ['FT_HAVE_CBLAS'],
          'libraries': ['<!@(node native/detect-blas.cjs libs)'],
        }],
        ['OS=="mac"', {
          'xcode_settings': {
            'OTHER_CPLUSPLUSFLAGS': ['-std=c++17', '-O3', '-fno-math-errno'],
          },
        }],
      ],
    },
  ],
}
