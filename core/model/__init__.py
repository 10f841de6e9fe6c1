"""The OAIP detector: a dual-VGG network (int8 and fp32 from one structure), its training and inference."""
