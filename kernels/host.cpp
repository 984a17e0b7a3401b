#include "densenet.cu"
