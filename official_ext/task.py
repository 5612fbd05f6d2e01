"""Image classification task: Model Garden's, plus gradient accumulation and input fixes.

What Model Garden's `ImageClassificationTask` lacks and this subclass adds (on top of the
papers' classifier init, `official_ext.head_init.ClassificationTask`):

- Gradient accumulation (none exists in Model Garden or the tf_keras optimizers). With
  `trainer.accumulation_steps = N` the training input yields N micro-batches of
  `train_data.global_batch_size` at once; `train_step` splits each replica's share into N
  micro-batches, sums their gradients in a `tf.while_loop` (loop-carried tensors, so the
  accumulators are replica-local under Mirrored/TPU strategies and compile under XLA) and calls
  the optimizer once. The learning-rate schedule, EMA and `train_steps` therefore count
  optimizer updates. Each micro-batch's loss is divided by N and by the replica count, so the
  update equals that of one N-times larger batch (for layers without batch statistics).
- `build_inputs` passes `crop_area_range` and RandAugment's `magnitude_std` (timm's `mstd`),
  both silently dropped by the stock task, and checks every label against `num_classes`
  (see official_ext/inputs.py).
- `train_data.pipeline: timm` (the ConvNeXt/HorNet/Swin/PosMLP recipes' default) swaps in
  timm's transforms and batch mixup/CutMix (official_ext/timm_input.py); `model_garden` keeps
  the stock parser.
- Exact resume: the training input is `official_ext.stream`'s keyed stream, built from
  `start_step` (set by the trainer after the checkpoint is restored), and the model's own
  randomness (stochastic depth, dropout) is keyed by (seed, optimizer step, replica,
  micro-batch) through `official_ext.determinism`, so a restarted run continues the run it
  resumes instead of replaying its first batches with new random draws.
"""
from __future__ import annotations

from typing import Any, List, Optional, Tuple

from absl import logging
import tensorflow as tf
import tf_keras

from official.common import dataset_fn
from official.core import task_factory
from official.vision.dataloaders import classification_input
from official.vision.dataloaders import input_reader
from official.vision.dataloaders import input_reader_factory
from official.vision.ops import augment
from official.vision.tasks import image_classification

from data import check
from layers import base as act_base
from official_ext import determinism
from official_ext import head_init
from official_ext import inputs
from official_ext import stream
from official_ext import timm_input
from official_ext.configs import data as data_cfg
from official_ext.configs import experiments

# Key domain of the model's randomness (apart from the input stream's keys).
MODEL_KEY_DOMAIN = -2


@task_factory.register_task_cls(experiments.TaskConfig)
class ActClassificationTask(head_init.ClassificationTask):
    """Model Garden's classification task with gradient accumulation and fixed inputs."""

    def __init__(self, params, logging_dir: Optional[str] = None, name: Optional[str] = None,
                 accumulation_steps: int = 1):
        super().__init__(params, logging_dir=logging_dir, name=name)
        self.accumulation_steps = accumulation_steps
        # The optimizer step the training input starts at (the trainer sets it on resume).
        self.start_step = 0

    @property
    def accumulation_steps(self) -> int:
        """Micro-batches per optimizer update (set from `trainer.accumulation_steps`)."""
        return self._accumulation_steps

    @accumulation_steps.setter
    def accumulation_steps(self, value: int) -> None:
        if int(value) != value or value < 1:
            raise ValueError(f'trainer.accumulation_steps must be an integer >= 1, got {value}; '
                             'use 1 to update after every batch.')
        self._accumulation_steps = int(value)

    def build_model(self) -> tf_keras.Model:
        """The stock model, plus coupled L2 on every parameter when the recipe asks for it.

        `losses.l2_weight_decay_all` (torchvision's recipe) adds wd * sum(v^2) / 2 over every
        trainable variable to the loss, so each gradient gains wd * v exactly as PyTorch SGD's
        `weight_decay`; Model Garden's `l2_weight_decay` reaches only conv/dense kernels.
        """
        model = super().build_model()
        decay = float(getattr(self.task_config.losses, 'l2_weight_decay_all', 0.0) or 0.0)
        if decay:
            model.add_loss(lambda: decay * tf.add_n(
                [tf.nn.l2_loss(tf.cast(v, tf.float32)) for v in model.trainable_variables]))
        self._regularize_activation_kernels(model)
        return model

    def _regularize_activation_kernels(self, model: tf_keras.Model) -> None:
        """Extends `losses.l2_weight_decay` to the kernels inside activation layers.

        The backbone builders hand Model Garden's kernel regularizer to their convs and dense
        layers, but an activation layer builds its own (Meta-ACON's two projections); the ACON
        authors decay every >= 2-D weight (`get_parameters`), so these kernels get the same
        wd * sum(w^2) / 2 term (ACON-FReLU's depthwise kernel too). Activation parameters
        (p1, p2, beta, TPGU's a_i) stay undecayed.
        """
        decay = float(self.task_config.losses.l2_weight_decay or 0.0)
        if not decay:
            return
        kernels = []
        for layer in model.submodules:
            if isinstance(layer, act_base.ActivationLayer):
                for sub in layer.submodules:
                    # Dense/Conv `kernel` (Meta-ACON), DepthwiseConv2D `depthwise_kernel`
                    # (ACON-FReLU's funnel conv).
                    for attr, reg in (('kernel', 'kernel_regularizer'),
                                      ('depthwise_kernel', 'depthwise_regularizer')):
                        kernel = getattr(sub, attr, None)
                        if kernel is not None and getattr(sub, reg, None) is None:
                            kernels.append(kernel)
        if kernels:
            model.add_loss(lambda: decay / 2.0 * tf.add_n(
                [tf.reduce_sum(tf.square(tf.cast(k, tf.float32))) for k in kernels]))

    # ----------------------------------------------------------------------------- inputs
    def build_inputs(self, params, input_context: Optional[tf.distribute.InputContext] = None
                     ) -> tf.data.Dataset:
        """Builds the classification input like the stock task, with the fixes above.

        For training with accumulation, one element is N micro-batches concatenated, so the
        reader batches `N * global_batch_size` examples (mixup/cutmix pair images within it).
        """
        num_classes = self.task_config.model.num_classes
        input_size = self.task_config.model.input_size
        train_cfg = self.task_config.train_data
        if params.is_training and self.accumulation_steps > 1:
            params = params.replace(
                global_batch_size=params.global_batch_size * self.accumulation_steps)

        if params.tfds_name:
            decoder = inputs.TfdsDecoder()   # lossless (the stock one re-encodes as JPEG)
        else:
            decoder = classification_input.Decoder(
                image_field_key=train_cfg.image_field_key,
                label_field_key=train_cfg.label_field_key,
                is_multilabel=train_cfg.is_multilabel)

        parser_kwargs = dict(
            output_size=input_size[:2], num_classes=num_classes,
            image_field_key=train_cfg.image_field_key,
            label_field_key=train_cfg.label_field_key,
            # tfds images arrive as lossless PNG (inputs.TfdsDecoder), not JPEG.
            decode_jpeg_only=params.decode_jpeg_only and not params.tfds_name,
            aug_rand_hflip=params.aug_rand_hflip,
            aug_crop=params.aug_crop, aug_type=params.aug_type,
            color_jitter=params.color_jitter, random_erasing=params.random_erasing,
            is_multilabel=train_cfg.is_multilabel, dtype=params.dtype,
            center_crop_fraction=params.center_crop_fraction,
            tf_resize_method=params.tf_resize_method, three_augment=params.three_augment)
        area = inputs.crop_area_range(params)
        if area is not None:
            parser_kwargs['crop_area_range'] = area
        pipeline = getattr(params, 'pipeline', 'model_garden')
        if pipeline not in data_cfg.PIPELINES:
            raise ValueError(f"train_data/validation_data.pipeline must be one of "
                             f"{', '.join(data_cfg.PIPELINES)}, got '{pipeline}'.")
        if pipeline == 'timm':
            parser, postprocess_fn = timm_input.from_config(
                params, num_classes, parser_kwargs,
                micro_batches=self.accumulation_steps if params.is_training else 1)
            logging.info('Input pipeline (%s): timm.', 'train' if params.is_training else 'eval')
        else:
            parser, postprocess_fn = self._stock_parser(params, num_classes, parser_kwargs)
        return self._read(params, input_context, decoder, parser, postprocess_fn)

    @staticmethod
    def _stock_parser(params, num_classes, parser_kwargs):
        """Model Garden's parser (with the fixes of official_ext.inputs) and mixup/cutmix."""
        parser = inputs.Parser(crop_padding=getattr(params, 'crop_padding', 0), **parser_kwargs)
        postprocess_fn = None
        if params.mixup_and_cutmix:
            mix = params.mixup_and_cutmix
            postprocess_fn = augment.MixupAndCutmix(
                mixup_alpha=mix.mixup_alpha, cutmix_alpha=mix.cutmix_alpha, prob=mix.prob,
                switch_prob=mix.switch_prob, label_smoothing=mix.label_smoothing,
                num_classes=num_classes)
        return parser, postprocess_fn

    def _read(self, params, input_context, decoder, parser, postprocess_fn):
        """The keyed stream for training from TFRecords, Model Garden's reader otherwise."""
        if self._uses_stream(params):
            return self._stream_inputs(params, input_context, decoder.decode,
                                       parser.parse_fn(True), postprocess_fn)

        if params.is_training:
            logging.warning('The training input (tfds, cache or repeated_augment) uses Model '
                            "Garden's reader: a resumed run replays it from its first batch.")
        sample_fn = None
        if params.is_training and params.repeated_augment is not None:
            copies = params.repeated_augment

            def sample_fn(dataset):
                return tf.data.Dataset.sample_from_datasets(
                    [dataset] * copies, weights=[1 / copies] * copies,
                    stop_on_empty_dataset=True)

        reader = input_reader_factory.input_reader_generator(
            params,
            dataset_fn=dataset_fn.pick_dataset_fn(params.file_type),
            decoder_fn=decoder.decode,
            combine_fn=input_reader.create_combine_fn(params),
            parser_fn=parser.parse_fn(params.is_training),
            postprocess_fn=postprocess_fn,
            sample_fn=sample_fn)
        return reader.read(input_context=input_context)

    @property
    def seed(self) -> int:
        """The run's seed (run.py always sets `train_data.seed`; 0 when used without it)."""
        return int(self.task_config.train_data.seed or 0)

    @staticmethod
    def _uses_stream(params) -> bool:
        """Training from TFRecord files goes through the exactly resumable stream.

        tfds inputs, `repeated_augment` and `cache` keep Model Garden's reader (a resume then
        replays that input from its start; run.py says so).
        """
        return (params.is_training and not params.tfds_name and not params.cache
                and params.repeated_augment is None
                and params.file_type in ('tfrecord', 'tfrecord_compressed'))

    def _stream_inputs(self, params, input_context, decode_fn, parse_fn, postprocess_fn):
        """The keyed training stream (official_ext/stream.py) from `self.start_step` on."""
        files = check.expand(params.input_path)
        pipelines = input_context.num_input_pipelines if input_context else 1
        pipeline_id = input_context.input_pipeline_id if input_context else 0
        replicas = input_context.num_replicas_in_sync if input_context else 1
        batch = (input_context.get_per_replica_batch_size(params.global_batch_size)
                 if input_context else params.global_batch_size)
        records_per_step = batch * (replicas // pipelines)
        source = stream.TrainingStream(
            files, self.seed, pipeline_id, pipelines,
            shuffle_buffer=params.shuffle_buffer_size, cycle_length=params.cycle_length or 16,
            compression='GZIP' if params.file_type == 'tfrecord_compressed' else None)
        return stream.build(source, self.start_step, records_per_step, batch, decode_fn,
                            parse_fn, postprocess_fn)

    def _model_key(self, optimizer, micro_batch=0) -> tf.Tensor:
        """Key of the model's randomness at this optimizer step, replica and micro-batch."""
        replica = tf.distribute.get_replica_context()
        replica_id = replica.replica_id_in_sync_group if replica is not None else 0
        return determinism.element_key(self.seed, MODEL_KEY_DOMAIN, optimizer.iterations,
                                       replica_id, micro_batch)

    # ----------------------------------------------------------------------------- training
    def _training_labels(self, labels: tf.Tensor) -> tf.Tensor:
        """The label transform of the stock train_step (one-hot / binary cross-entropy)."""
        cfg = self.task_config
        is_multilabel = cfg.train_data.is_multilabel
        if cfg.losses.one_hot and not is_multilabel:
            labels = tf.one_hot(labels, cfg.model.num_classes)
        if cfg.losses.use_binary_cross_entropy:
            if cfg.train_data.mixup_and_cutmix is not None:
                threshold = (cfg.train_data.mixup_and_cutmix.label_smoothing
                             / cfg.model.num_classes)
                labels = tf.where(tf.less(labels, threshold + image_classification._EPSILON),
                                  0.0, 1.0)
            elif labels.shape.rank == 1:
                labels = tf.one_hot(labels, cfg.model.num_classes)
        return labels

    def train_step(self, inputs: Tuple[Any, Any], model: tf_keras.Model,
                   optimizer: tf_keras.optimizers.Optimizer, metrics: Optional[List[Any]] = None):
        """One optimizer update; with accumulation, over N micro-batches of this replica's data."""
        n = self.accumulation_steps
        if n == 1:
            with determinism.keyed_randomness(self._model_key(optimizer)):
                return super().train_step(inputs, model, optimizer, metrics=metrics)

        features, labels = inputs
        labels = self._training_labels(labels)

        def split(t):
            static = t.shape.as_list()
            if static[0] is not None and static[0] % n:
                raise ValueError(
                    f'the per-replica batch {static[0]} does not split into '
                    f'accumulation_steps={n} equal micro-batches; make train_data.'
                    'global_batch_size divisible by the number of replicas.')
            rest = tf.shape(t)[1:]
            return tf.reshape(t, tf.concat([[n, -1], rest], axis=0))

        features = tf.nest.map_structure(split, features)
        labels = tf.nest.map_structure(split, labels)
        num_replicas = tf.distribute.get_strategy().num_replicas_in_sync
        tvars = model.trainable_variables
        scale_loss = isinstance(optimizer, tf_keras.mixed_precision.LossScaleOptimizer)

        def body(i, loss_sum, accumulated):
            micro_features = tf.nest.map_structure(lambda t: tf.gather(t, i), features)
            micro_labels = tf.nest.map_structure(lambda t: tf.gather(t, i), labels)
            with tf.GradientTape() as tape, determinism.keyed_randomness(
                    self._model_key(optimizer, i)):
                outputs = model(micro_features, training=True)
                outputs = tf.nest.map_structure(lambda x: tf.cast(x, tf.float32), outputs)
                loss = self.build_losses(model_outputs=outputs, labels=micro_labels,
                                         aux_losses=model.losses)
                scaled_loss = loss / (num_replicas * n)
                if scale_loss:
                    scaled_loss = optimizer.get_scaled_loss(scaled_loss)
            grads = tape.gradient(scaled_loss, tvars)
            grads = [tf.zeros_like(v) if g is None else tf.convert_to_tensor(g)
                     for g, v in zip(grads, tvars)]
            if metrics:
                if getattr(self.task_config.model, 'output_softmax', False):
                    outputs = tf.nest.map_structure(lambda x: tf.nn.softmax(x, -1), outputs)
                self.process_metrics(metrics, micro_labels, outputs)
            accumulated = [a + tf.cast(g, a.dtype) for a, g in zip(accumulated, grads)]
            return i + 1, loss_sum + loss, accumulated

        zeros = [tf.zeros(v.shape, v.dtype) for v in tvars]
        _, loss_sum, grads = tf.while_loop(
            lambda i, *_: i < n, body, (tf.constant(0), tf.constant(0.0), zeros),
            parallel_iterations=1)
        if scale_loss:
            grads = optimizer.get_unscaled_gradients(grads)
        optimizer.apply_gradients(list(zip(grads, tvars)))
        return {self.loss: loss_sum / n}
